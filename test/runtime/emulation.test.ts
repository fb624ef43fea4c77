/**
 * Whether a RUN for another architecture can execute: binfmt_misc registrations read from a folder
 * laid out as /proc/sys/fs/binfmt_misc is (the real one is tested by the multi-platform build).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binfmtMatches, cannotRun, parseBinfmtEntry } from '../../src/runtime';

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64' };

// what Debian's qemu-user-static registers for aarch64 (/usr/lib/binfmt.d/qemu-aarch64.conf), as the kernel shows it
const AARCH64 = (flags: string, enabled = 'enabled'): string => `${enabled}
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: ${flags}
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-binfmt-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const binfmt = async (files: Record<string, string>): Promise<string> => {
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
};

test('the host\'s own architecture needs nothing, whatever binfmt_misc holds', async () => {
  expect(await cannotRun(amd64, amd64, join(dir, 'absent'))).toBeUndefined();
});

test('arm64 on amd64 with qemu-aarch64 registered with F: runs', async () => {
  expect(await cannotRun(arm64, amd64, await binfmt({ status: 'enabled\n', register: '', 'qemu-aarch64': AARCH64('POF') }))).toBeUndefined();
});

test('registered without F: refused, naming the handler and the flag', async () => {
  const why = await cannotRun(arm64, amd64, await binfmt({ status: 'enabled\n', 'qemu-aarch64': AARCH64('P') }));
  expect(why).toMatch(/qemu-aarch64 .*without the F flag/);
});

test('a disabled handler, or one for another architecture, does not count', async () => {
  const arm = AARCH64('POF').replace('b700', '2800').replace('0201010000', '0101010000'); // 32-bit arm's header
  const why = await cannotRun(arm64, amd64, await binfmt({ status: 'enabled\n', 'qemu-aarch64': AARCH64('POF', 'disabled'), 'qemu-arm': arm }));
  expect(why).toMatch(/needs the qemu-aarch64 emulator, which is not registered/);
  expect(why).toMatch(/qemu-user-static/);
});

test('binfmt_misc not mounted, or disabled as a whole', async () => {
  expect(await cannotRun(arm64, amd64, join(dir, 'absent'))).toMatch(/binfmt_misc is not mounted/);
  expect(await cannotRun(arm64, amd64, await binfmt({ status: 'disabled\n', 'qemu-aarch64': AARCH64('F') }))).toMatch(/binfmt_misc is disabled/);
});

test('another OS, or an architecture keel knows no ELF identity for, is refused', async () => {
  expect(await cannotRun({ os: 'windows', architecture: 'amd64' }, amd64, dir)).toMatch(/linux containers only/);
  expect(await cannotRun({ os: 'linux', architecture: 'sparc64' }, amd64, dir)).toMatch(/no emulator for the architecture sparc64/);
});

test('magic and mask: the kernel\'s test, at the offset', () => {
  const entry = parseBinfmtEntry('x', 'enabled\ninterpreter /i\nflags: F\noffset 2\nmagic abcd\nmask ff0f\n');
  expect(entry).toMatchObject({ name: 'x', enabled: true, interpreter: '/i', flags: 'F', offset: 2 });
  if (entry === undefined) throw new Error('parsed nothing');
  expect(binfmtMatches(entry, Buffer.from([0, 0, 0xab, 0xfd]))).toBe(true); // the mask ignores the high nibble of byte 2
  expect(binfmtMatches(entry, Buffer.from([0, 0, 0xab, 0xce]))).toBe(false);
  expect(binfmtMatches(entry, Buffer.from([0xab, 0xcd]))).toBe(false); // too short at that offset
  expect(parseBinfmtEntry('py', 'enabled\ninterpreter /usr/bin/python3\nflags: \nextension .pyc\n')).toBeUndefined();
});
