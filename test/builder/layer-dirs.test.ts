/**
 * Layers laid out as overlayfs lower folders (layer-dirs.ts): whiteouts as 0/0 character devices,
 * opaque folders by xattr, device files, fifos, hard links, symlinks, owners, modes and the
 * security.capability xattr kept; hostile archives refused. Needs root (mknod, chown, trusted.*).
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isKeelError } from '../../src';
import { extractLayerDir } from '../../src/snapshot/layer-dirs';
import { describeIntegration } from '../support/integration';
import { tarOfHeaders } from '../support/tar-fixtures';

const tar = tarOfHeaders;

/** An extended attribute's value as getfattr prints it in hex (`0x…`), or '' when absent. */
const xattr = (path: string, name: string): string =>
  /=(0x[0-9a-f]+)/.exec(spawnSync('getfattr', ['-h', '-e', 'hex', '-n', name, path], { encoding: 'utf8' }).stdout)?.[1] ?? '';

describeIntegration('layer folders for overlayfs', ['runc'], () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-layerdir-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('every kind of entry, whiteouts and an opaque folder', async () => {
    // a file capability as the kernel stores it: VFS_CAP_REVISION_2, cap_net_bind_service permitted
    const cap = Buffer.from('0100000200040000000000000000000000000000', 'hex');
    const layer = await tar([
      { name: 'etc/', type: 'directory', mode: 0o750, uid: 3, gid: 4 },
      { name: 'etc/conf', body: 'conf\n', mode: 0o600, uid: 1000, gid: 1001 },
      { name: 'etc/hard', type: 'link', linkname: 'etc/conf' },
      { name: 'etc/link', type: 'symlink', linkname: '../elsewhere' },
      { name: 'bin/ping', body: 'ELF', mode: 0o4755, pax: { 'SCHILY.xattr.security.capability': cap.toString('latin1') } },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'run/fifo', type: 'fifo', mode: 0o600 },
      { name: 'gone/.wh.old', body: '' },
      { name: 'emptied/.wh..wh..opq', body: '' },
      { name: 'emptied/kept', body: 'k' },
    ]);
    const out = join(dir, 'all');
    await extractLayerDir(Readable.from([layer]), out);
    const st = (p: string) => lstatSync(join(out, p));
    expect([st('etc').mode & 0o7777, st('etc').uid, st('etc').gid, st('etc').mtimeMs]).toEqual([0o750, 3, 4, 1_600_000_000_000]);
    expect([st('etc/conf').mode & 0o7777, st('etc/conf').uid, st('etc/conf').gid]).toEqual([0o600, 1000, 1001]);
    expect(readFileSync(join(out, 'etc/conf'), 'utf8')).toBe('conf\n');
    expect(st('etc/hard').ino).toBe(st('etc/conf').ino);
    expect(readlinkSync(join(out, 'etc/link'))).toBe('../elsewhere');
    expect(st('bin/ping').mode & 0o7777).toBe(0o4755);
    expect(xattr(join(out, 'bin/ping'), 'security.capability')).toBe(`0x${cap.toString('hex')}`);
    expect(st('dev/null').isCharacterDevice() && st('dev/null').rdev).toBe(0x103);
    expect(st('run/fifo').isFIFO()).toBe(true);
    expect(st('gone/old').isCharacterDevice() && st('gone/old').rdev).toBe(0); // overlayfs' whiteout
    expect(xattr(join(out, 'emptied'), 'trusted.overlay.opaque')).toBe('0x79'); // "y"
    expect(readFileSync(join(out, 'emptied/kept'), 'utf8')).toBe('k');
  });

  test('hostile layers: through a symlink of the layer, or a hard link out of it', async () => {
    const viaLink = await tar([
      { name: 'evil', type: 'symlink', linkname: '/tmp' },
      { name: 'evil/planted', body: 'x' },
    ]);
    const a = await extractLayerDir(Readable.from([viaLink]), join(dir, 'a')).then(() => undefined, (e: unknown) => e);
    expect(isKeelError(a, 'E_BUILD_INPUT')).toBe(true);
    expect(() => lstatSync('/tmp/planted')).toThrow();

    const outLink = await tar([{ name: 'passwd', type: 'link', linkname: '../../../etc/passwd' }]);
    const b = await extractLayerDir(Readable.from([outLink]), join(dir, 'b')).then(() => undefined, (e: unknown) => e);
    expect(isKeelError(b, 'E_BUILD_INPUT')).toBe(true);

    const dotdot = await tar([{ name: '../../escaped', body: 'x' }]);
    await extractLayerDir(Readable.from([dotdot]), join(dir, 'c'));
    expect(readFileSync(join(dir, 'c', 'escaped'), 'utf8')).toBe('x'); // cleaned into the folder
  });

  test('a folder the layer does not name takes the lower layers\' metadata, also when they are still being extracted', async () => {
    const lower = await tar([{ name: 'srv/', type: 'directory', mode: 0o711, uid: 7, gid: 8, mtime: new Date(1_000_000_000_000) }]);
    await extractLayerDir(Readable.from([lower]), join(dir, 'lower'));
    const upper = await tar([
      { name: 'srv/www/index.html', body: 'hi' }, // srv/ and srv/www/ unnamed
      { name: 'late/file', body: 'x' }, // late/ unnamed at first, named after its file
      { name: 'late/', type: 'directory', mode: 0o705, uid: 1, gid: 2 },
    ]);
    // the lowers given after the walk: the extraction waits for them only to set those folders' metadata
    let give: (dirs: readonly string[]) => void = () => undefined;
    const lowers = new Promise<readonly string[]>((resolve) => { give = resolve; });
    const extracting = extractLayerDir(Readable.from([upper]), join(dir, 'upper'), { lowers });
    await new Promise((resolve) => setTimeout(resolve, 50));
    give([join(dir, 'lower')]);
    await extracting;
    const srv = lstatSync(join(dir, 'upper', 'srv'));
    expect([srv.mode & 0o7777, srv.uid, srv.gid, Math.floor(srv.mtimeMs / 1000)]).toEqual([0o711, 7, 8, 1_000_000_000]);
    const www = lstatSync(join(dir, 'upper', 'srv', 'www')); // in no lower layer: BuildKit's implicit folder
    expect([www.mode & 0o7777, www.uid, www.gid]).toEqual([0o755, 0, 0]);
    const late = lstatSync(join(dir, 'upper', 'late'));
    expect([late.mode & 0o7777, late.uid, late.gid]).toEqual([0o705, 1, 2]);
  });
});

