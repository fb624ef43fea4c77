/**
 * Whether a RUN for a platform can execute here: natively (the host's architecture), or through a
 * user-mode emulator (QEMU) that the kernel runs for that architecture's ELF binaries, registered
 * in binfmt_misc (Documentation/admin-guide/binfmt-misc.rst). A container cannot see the host's
 * /usr/bin/qemu-*-static, so the handler must be registered with the `F` (fix binary) flag, which
 * opens the interpreter when it is registered: tonistiigi/binfmt and Debian's qemu-user-static both
 * register that way. BuildKit asks the same question by running a test binary (util/archutil); keel
 * reads the registrations instead and names what is missing.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { platformString, type Platform } from '../image/index.js';

/** An architecture's ELF identity: class (1: 32-bit, 2: 64-bit), byte order (1: little, 2: big) and e_machine. */
interface ElfArch {
  readonly elfClass: 1 | 2;
  readonly order: 1 | 2;
  readonly machine: number;
  /** The name QEMU's user-mode emulator has for it (`qemu-aarch64`), for messages. */
  readonly qemu: string;
}

// e_machine numbers from the ELF specification's processor supplements (elf.h: EM_X86_64 62, EM_AARCH64 183...)
const ELF_ARCHES: Readonly<Record<string, ElfArch>> = {
  amd64: { elfClass: 2, order: 1, machine: 62, qemu: 'x86_64' },
  '386': { elfClass: 1, order: 1, machine: 3, qemu: 'i386' },
  arm64: { elfClass: 2, order: 1, machine: 183, qemu: 'aarch64' },
  arm: { elfClass: 1, order: 1, machine: 40, qemu: 'arm' },
  ppc64le: { elfClass: 2, order: 1, machine: 21, qemu: 'ppc64le' },
  s390x: { elfClass: 2, order: 2, machine: 22, qemu: 's390x' },
  riscv64: { elfClass: 2, order: 1, machine: 243, qemu: 'riscv64' },
  mips64le: { elfClass: 2, order: 1, machine: 8, qemu: 'mips64el' },
  loong64: { elfClass: 2, order: 1, machine: 258, qemu: 'loongarch64' },
};

/** The first 20 bytes of an executable of `arch`: what binfmt_misc's magic and mask are tested against. */
function elfHeader(arch: ElfArch): Buffer {
  const h = Buffer.alloc(20);
  h.set([0x7f, 0x45, 0x4c, 0x46, arch.elfClass, arch.order, 1]);
  const u16 = (at: number, v: number): void => void (arch.order === 1 ? h.writeUInt16LE(v, at) : h.writeUInt16BE(v, at));
  u16(16, 2); // e_type ET_EXEC
  u16(18, arch.machine);
  return h;
}

/** A binfmt_misc registration, as its file under /proc/sys/fs/binfmt_misc reads. */
export interface BinfmtEntry {
  readonly name: string;
  readonly enabled: boolean;
  readonly interpreter: string;
  readonly flags: string;
  readonly offset: number;
  readonly magic: Buffer;
  readonly mask: Buffer | undefined;
}

/** One registration file's text (`enabled`, `interpreter …`, `flags: POF`, `offset 0`, `magic …`, `mask …`); undefined for an extension match. */
export function parseBinfmtEntry(name: string, text: string): BinfmtEntry | undefined {
  const lines = text.split('\n');
  const field = (key: string): string | undefined => lines.find((l) => l.startsWith(`${key} `) || l.startsWith(`${key}: `))?.replace(/^[^ ]+ /, '').trim();
  const magic = field('magic');
  if (magic === undefined) return undefined;
  const mask = field('mask');
  return {
    name,
    enabled: lines[0]?.trim() === 'enabled',
    interpreter: field('interpreter') ?? '',
    flags: field('flags') ?? '',
    offset: Number(field('offset') ?? '0'),
    magic: Buffer.from(magic, 'hex'),
    mask: mask === undefined ? undefined : Buffer.from(mask, 'hex'),
  };
}

/** Whether the kernel would hand `header` to this registration (its magic under its mask, at its offset). */
export function binfmtMatches(entry: BinfmtEntry, header: Buffer): boolean {
  for (let i = 0; i < entry.magic.length; i++) {
    const b = header[entry.offset + i];
    if (b === undefined) return false;
    const m = entry.mask?.[i] ?? 0xff;
    if (((b ^ (entry.magic[i] as number)) & m) !== 0) return false;
  }
  return true;
}

/** Why `platform` cannot run here, or undefined when it can (natively, or through a usable emulator). */
export async function cannotRun(platform: Platform, host: Platform, binfmtDir: string): Promise<string | undefined> {
  if (platform.os !== 'linux') return `RUN for ${platformString(platform)} needs a ${platform.os} machine: keel runs linux containers only`;
  if (platform.architecture === host.architecture) return undefined;
  const arch = ELF_ARCHES[platform.architecture];
  if (arch === undefined) return `RUN for ${platformString(platform)}: keel knows no emulator for the architecture ${platform.architecture}`;
  const install = `install qemu-user-static and register it (docker run --privileged --rm tonistiigi/binfmt --install ${platform.architecture}, or Debian's update-binfmts), with the F flag`;
  const status = await readFile(join(binfmtDir, 'status'), 'utf8').catch(() => undefined);
  if (status === undefined) return `RUN for ${platformString(platform)} needs an emulator, and binfmt_misc is not mounted at ${binfmtDir} (mount -t binfmt_misc binfmt_misc ${binfmtDir}; then ${install})`;
  if (status.trim() !== 'enabled') return `RUN for ${platformString(platform)} needs an emulator, and binfmt_misc is disabled (${join(binfmtDir, 'status')})`;
  const header = elfHeader(arch);
  const names = (await readdir(binfmtDir)).filter((n) => n !== 'status' && n !== 'register');
  const entries = await Promise.all(names.map(async (n) => parseBinfmtEntry(n, await readFile(join(binfmtDir, n), 'utf8').catch(() => ''))));
  const matching = entries.filter((e): e is BinfmtEntry => e !== undefined && e.enabled && binfmtMatches(e, header));
  if (matching.some((e) => e.flags.includes('F'))) return undefined;
  const without = matching[0];
  if (without !== undefined) {
    return `RUN for ${platformString(platform)}: the emulator ${without.name} (${without.interpreter}) is registered without the F flag, so a container cannot reach it; register it again with F`;
  }
  return `RUN for ${platformString(platform)} needs the qemu-${arch.qemu} emulator, which is not registered in ${binfmtDir}: ${install}`;
}

/** cannotRun as an error: E_EMULATOR naming what is missing. */
export async function checkCanRun(platform: Platform, host: Platform, binfmtDir: string): Promise<void> {
  const why = await cannotRun(platform, host, binfmtDir);
  if (why !== undefined) throw new KeelError('E_EMULATOR', why);
}
