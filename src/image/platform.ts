/**
 * Platforms as `os/arch[/variant]` (the config's and an index's `platform`), read and normalised
 * as containerd's platforms package does (platforms.go Parse, database.go normalizeArch), so that
 * `linux/x86_64`, `x86_64` and `amd64` all name linux/amd64 and `linux/aarch64` names linux/arm64.
 */
import { KeelError } from '../errors.js';
import type { Platform } from './image.js';

/** linux and this machine's architecture, from Node's `process.arch` (read by the caller). */
export function hostPlatform(arch: string): Platform {
  const byNode: Readonly<Record<string, Platform>> = {
    x64: { os: 'linux', architecture: 'amd64' },
    ia32: { os: 'linux', architecture: '386' },
    arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
  };
  return byNode[arch] ?? { os: 'linux', architecture: arch };
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
 * or `os/arch/variant`, normalised as buildx does before it builds. `defaultArch` fills in an OS given alone.
 */
export function parsePlatform(spec: string, defaultArch: Platform = { os: 'linux', architecture: 'amd64' }): Platform {
  const parts = spec.trim().split('/');
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

/**
 * A comma list of platforms (`--platform linux/amd64,linux/arm64`), each parsed and normalised, the
 * same platform named twice kept once (buildx's platformutil.Dedupe), in the order given.
 */
export function parsePlatforms(specs: readonly string[], defaultArch?: Platform): Platform[] {
  const all = specs.flatMap((s) => s.split(',')).filter((s) => s.trim() !== '');
  if (all.length === 0) throw new KeelError('E_PLATFORM', 'no platform given');
  const seen = new Map<string, Platform>();
  for (const s of all) {
    const p = parsePlatform(s, defaultArch);
    if (!seen.has(platformString(p))) seen.set(platformString(p), p);
  }
  return [...seen.values()];
}

/** A platform as it is written in an image (any spelling: `aarch64`, `arm64/v8`), normalised for comparing. */
export function normalizePlatform(p: Platform): Platform {
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? '');
  return withVariant(normalizeOs(p.os), architecture, variant);
}

/**
 * The platforms whose images run as `want`, best first: containerd's platforms.Only. An arm64 host
 * also runs arm/v8 down to arm/v5 images, arm/v7 runs v7 down to v5, amd64/v3 runs v3 down to v1.
 */
function compatiblePlatforms(want: Platform): Platform[] {
  const p = normalizePlatform(want);
  const list = [p];
  const armDown = (from: number): void => {
    for (let v = from; v >= 5; v--) list.push({ os: p.os, architecture: 'arm', variant: `v${v}` });
  };
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === 'v8')) armDown(8);
  const armV = p.architecture === 'arm' ? /^v([5-8])$/.exec(p.variant ?? '') : null;
  if (armV !== null) armDown(Number(armV[1]) - 1);
  const amdV = p.architecture === 'amd64' ? /^v([2-4])$/.exec(p.variant ?? '') : null;
  if (amdV !== null) {
    for (let v = Number(amdV[1]) - 1; v >= 2; v--) list.push({ os: p.os, architecture: 'amd64', variant: `v${v}` });
    list.push({ os: p.os, architecture: 'amd64' });
  }
  return list;
}

/**
 * Of an index's entries, the one to use for `want`: the exact platform (both sides normalised, so
 * an entry of `arm64/v8` serves linux/arm64), else the best compatible one, as containerd's
 * platforms.Only orders them; entries without a platform never match.
 */
export function choosePlatform<T extends { readonly platform?: Platform }>(entries: readonly T[], want: Platform): T | undefined {
  for (const c of compatiblePlatforms(want)) {
    const key = platformString(c);
    const found = entries.find((e) => e.platform !== undefined && platformString(normalizePlatform(e.platform)) === key);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The platforms of an index's entries, as a message lists them (`linux/amd64, linux/arm64`). */
export const offeredPlatforms = (entries: ReadonlyArray<{ readonly platform?: Platform }>): string =>
  entries.map((e) => (e.platform === undefined ? 'unknown' : platformString(e.platform))).join(', ') || 'none';

export const platformString = (p: Platform): string => `${p.os}/${p.architecture}${p.variant === undefined ? '' : `/${p.variant}`}`;
