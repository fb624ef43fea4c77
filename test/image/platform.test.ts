/**
 * Platform specifiers read as buildx reads them: containerd's platforms.Parse, then Normalize.
 */
import { isKeelError } from '../../src';
import { parsePlatform, platformString } from '../../src/image/platform';

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
    ['linux/amd64,linux/arm64', /several platforms/],
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
