/**
 * Platforms as `os/arch[/variant]` (the config's and an index's `platform`), read and normalised
 * as containerd's platforms package does (platforms.go Parse, database.go normalizeArch), so that
 * `linux/x86_64`, `x86_64` and `amd64` all name linux/amd64 and `linux/aarch64` names linux/arm64.
 */
import { KeelError } from '../errors.js';
import type { Platform } from './image.js';

/** linux and this machine's architecture (Node's `process.arch`, read by the caller). */
export function hostPlatform(arch: string): Platform {
  return { os: 'linux', architecture: arch === 'arm64' ? 'arm64' : 'amd64' };
}

// Go's known operating systems and architectures (containerd's database.go, from go/build's syslist)
const KNOWN_OS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'windows', 'zos']);
const KNOWN_ARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le',
  'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm',
]);
const SPECIFIER_PART = /^[A-Za-z0-9_.-]+$/;

const normalizeOs = (os: string): string => (os.toLowerCase() === 'macos' ? 'darwin' : os.toLowerCase());

/** An architecture and variant as containerd normalises them (aliases, and the variants a bare name implies). */
function normalizeArch(arch: string, variant: string): [string, string] {
  const a = arch.toLowerCase();
  const v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      return ['386', ''];
    case 'x86_64': case 'x86-64': case 'amd64':
      return ['amd64', v === 'v1' ? '' : v];
    case 'aarch64': case 'arm64':
      return ['arm64', ['8', 'v8', 'v8.0'].includes(v) ? '' : ['9', '9.0', 'v9.0'].includes(v) ? 'v9' : v];
    case 'armhf':
      return ['arm', 'v7'];
    case 'armel':
      return ['arm', 'v6'];
    case 'arm':
      return ['arm', v === '' || v === '7' ? 'v7' : ['5', '6', '8'].includes(v) ? `v${v}` : v];
    default:
      return [a, v];
  }
}

const withVariant = (os: string, architecture: string, variant: string): Platform => ({ os, architecture, ...(variant === '' ? {} : { variant }) });

/**
 * A platform specifier: `os`, `arch` (linux assumed, as containerd assumes the host's OS), `os/arch`
 * or `os/arch/variant`, normalised as buildx does before it builds. `defaultArch` fills in an OS given alone. One platform only:
 * a comma list is refused (E_PLATFORM) until builds for several platforms exist.
 */
export function parsePlatform(spec: string, defaultArch: Platform = { os: 'linux', architecture: 'amd64' }): Platform {
  if (spec.includes(',')) {
    throw new KeelError('E_PLATFORM', `several platforms (${JSON.stringify(spec)}) are not supported yet: build one platform at a time`);
  }
  const parts = spec.split('/');
  if (parts.length > 3 || parts.some((p) => !SPECIFIER_PART.test(p))) {
    throw new KeelError('E_PLATFORM', `invalid platform ${JSON.stringify(spec)}: want os/arch[/variant]`);
  }
  const [first = '', second, third] = parts;
  if (second === undefined) {
    // one name: an OS (with the default architecture), else an architecture on linux
    const os = normalizeOs(first);
    if (KNOWN_OS.has(os)) return os === defaultArch.os ? defaultArch : { os, architecture: defaultArch.architecture };
    const [architecture, variant] = normalizeArch(first, '');
    if (KNOWN_ARCH.has(architecture)) return withVariant('linux', architecture, variant);
    throw new KeelError('E_PLATFORM', `invalid platform ${JSON.stringify(spec)}: unknown operating system or architecture`);
  }
  // buildx's platformutil.Parse: platforms.Normalize(platforms.Parse(spec)), so `linux/arm` is
  // linux/arm/v7 and `linux/arm64/v8` is linux/arm64
  const [architecture, variant] = normalizeArch(second, third ?? '');
  return withVariant(normalizeOs(first), architecture, variant);
}

export const platformString = (p: Platform): string => `${p.os}/${p.architecture}${p.variant === undefined ? '' : `/${p.variant}`}`;
