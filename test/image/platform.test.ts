/**
 * Platform specifiers read as buildx reads them: containerd's platforms.Parse, then Normalize.
 */
import { isKeelError } from '../../src';
import type { Platform } from '../../src/image/image';
import { choosePlatform, hostPlatform, parsePlatform, parsePlatforms, platformString } from '../../src/image/platform';

const amd = { os: 'linux', architecture: 'amd64' };
const p = (spec: string): string => platformString(parsePlatform(spec, amd));

describe('parsePlatform', () => {
  test.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['Linux/X86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm64/9', 'linux/arm64/v9'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/i386', 'linux/386'],
    ['arm64', 'linux/arm64'],
    ['x86_64', 'linux/amd64'],
    ['linux', 'linux/amd64'],
    ['macos/arm64', 'darwin/arm64'],
    ['linux/s390x', 'linux/s390x'],
  ])('%s is %s', (spec, want) => {
    expect(p(spec)).toBe(want);
  });

  test('an OS alone takes the default architecture given', () => {
    expect(parsePlatform('linux', { os: 'linux', architecture: 'arm64' })).toEqual({ os: 'linux', architecture: 'arm64' });
  });

  test.each([
    ['linux/amd64,linux/arm64', /want os\/arch/],
    ['nonsense', /unknown operating system or architecture/],
    ['linux/amd64/v2/x', /want os\/arch\[\/variant\]/],
    ['linux//amd64', /want os\/arch/],
    ['', /want os\/arch/],
  ])('%j is E_PLATFORM', (spec, message) => {
    let caught: unknown;
    try {
      parsePlatform(spec, amd);
    } catch (e) {
      caught = e;
    }
    expect(isKeelError(caught, 'E_PLATFORM')).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });
});

describe('parsePlatforms', () => {
  test('a comma list, each normalised, the same platform twice kept once, in order', () => {
    expect(parsePlatforms(['linux/arm64,linux/amd64', 'aarch64', 'linux/x86_64'], amd).map(platformString)).toEqual(['linux/arm64', 'linux/amd64']);
  });

  test('an empty list is E_PLATFORM', () => {
    expect(() => parsePlatforms([','], amd)).toThrow(expect.objectContaining({ code: 'E_PLATFORM' }));
  });
});

describe('hostPlatform', () => {
  test.each([
    ['x64', 'linux/amd64'],
    ['arm64', 'linux/arm64'],
    ['arm', 'linux/arm/v7'],
    ['ia32', 'linux/386'],
    ['s390x', 'linux/s390x'],
  ])('Node\'s %s is %s', (arch, want) => {
    expect(platformString(hostPlatform(arch))).toBe(want);
  });
});

describe('choosePlatform (containerd\'s platforms.Only)', () => {
  const entries = (...ps: Array<Platform | undefined>): Array<{ name: string; platform?: Platform }> =>
    ps.map((platform, i) => ({ name: `m${i}`, ...(platform === undefined ? {} : { platform }) }));
  const pick = (list: ReturnType<typeof entries>, want: string): string | undefined => choosePlatform(list, parsePlatform(want, amd))?.name;

  test('the exact platform, both sides normalised', () => {
    const list = entries({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'aarch64' });
    expect(pick(list, 'linux/arm64')).toBe('m1');
    expect(pick(list, 'linux/amd64')).toBe('m0');
  });

  test('arm variants: an exact variant first, else the best one below it; never one above', () => {
    const list = entries({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(pick(list, 'linux/arm/v7')).toBe('m1');
    expect(pick(list, 'linux/arm/v6')).toBe('m0');
    expect(pick(list, 'linux/arm/v5')).toBeUndefined();
    // an arm64 host runs 32-bit arm images when there is no arm64 one
    expect(pick(list, 'linux/arm64')).toBe('m1');
  });

  test('an entry without a platform, or of another OS, never matches', () => {
    expect(pick(entries(undefined, { os: 'windows', architecture: 'amd64' }), 'linux/amd64')).toBeUndefined();
  });

  test('amd64/v3 takes a v2 image, then a plain one', () => {
    expect(pick(entries({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64', variant: 'v2' }), 'linux/amd64/v3')).toBe('m1');
    expect(pick(entries({ os: 'linux', architecture: 'amd64' }), 'linux/amd64/v3')).toBe('m0');
  });
});
