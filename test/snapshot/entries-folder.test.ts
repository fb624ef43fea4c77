/**
 * A COPY's layer folder written from its tree beside the blob (layer-dirs.ts layerDirFromEntries,
 * issue 23) is the folder the blob extracts to: the same names, kinds, bytes, modes (set-id bits
 * too), owners, times, link targets and hard links. A layer a plain folder cannot hold without a
 * tool (a device) gets none, and a discarded one leaves nothing.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore } from '../../src/cache/blob-store';
import { layerEntries, withParents } from '../../src/builder/layers';
import { storeLayer } from '../../src/image/layer';
import { decompress, StageFs } from '../../src/tree';
import { extractLayerDir, layerDirFromEntries, layerDirPath } from '../../src/snapshot/layer-dirs';
import { describeIntegration } from '../support/integration';

/** Every entry under `root`: kind, mode, owner, mtime, size, bytes or link target, and which entries share an inode. */
function listing(root: string): string[] {
  const rows: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, path));
      const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : 'other';
      const body = kind === 'file' ? readFileSync(join(root, path), 'utf8') : kind === 'link' ? readlinkSync(join(root, path)) : '';
      const same = kind === 'file' && inodes.has(st.ino) ? ` =${inodes.get(st.ino) as string}` : '';
      if (kind === 'file' && !inodes.has(st.ino)) inodes.set(st.ino, path);
      rows.push(`${path} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${Math.floor(st.mtimeMs / 1000)} ${body}${same}`);
      if (kind === 'dir') walk(path);
    }
  };
  walk('');
  return rows;
}

describeIntegration('a content layer\'s folder from its entries', ['runc'], () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-entries-folder-'));
    await mkdir(join(dir, 'src'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const host = async (name: string, body: string) => {
    await writeFile(join(dir, 'src', name), body);
    return { kind: 'host' as const, path: join(dir, 'src', name), fingerprint: `test:${name}` };
  };

  test('the folder the blob extracts to', async () => {
    const fs = new StageFs();
    fs.set('app', { type: 'directory', mode: 0o750, uid: 1000, gid: 1000, mtime: 315532800 });
    fs.set('app/sub', { type: 'directory', mode: 0o700, uid: 0, gid: 0, mtime: 1_600_000_000 });
    fs.set('app/sub/run.sh', { type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime: 1_600_000_000, size: 9, source: await host('run.sh', '#!/bin/sh') });
    const shared = await host('shared', 'shared body');
    fs.set('app/one', { type: 'file', mode: 0o644, uid: 1000, gid: 1001, mtime: 315532800, size: 11, source: shared });
    fs.set('app/two', { type: 'file', mode: 0o644, uid: 1000, gid: 1001, mtime: 315532800, size: 11, source: shared });
    fs.set('app/bytes', { type: 'file', mode: 0o600, uid: 2, gid: 3, mtime: 315532800, size: 5, source: { kind: 'bytes', data: Buffer.from('bytes') } });
    fs.set('app/link', { type: 'symlink', mode: 0o777, uid: 1000, gid: 1000, mtime: 315532800, target: '../elsewhere' });
    const entries = layerEntries(withParents(['app/sub/run.sh', 'app/one', 'app/two', 'app/bytes', 'app/link']), fs);
    expect(entries.some((e) => e.type === 'hardlink')).toBe(true); // the shared body is written once

    const root = join(dir, 'layers');
    await mkdir(root);
    const folder = layerDirFromEntries(root, entries, fs);
    const store = new BlobStore(join(dir, 'cache'), process.pid);
    const layer = await storeLayer(entries, store, { compression: 'gzip' });
    await folder.publish(layer);

    const extracted = join(dir, 'extracted');
    await extractLayerDir(decompress(await store.open(layer.digest), 'gzip'), extracted);
    const made = listing(layerDirPath(root, layer));
    expect(made).toEqual(listing(extracted));
    expect(made).toContain('app/sub/run.sh file 4755 0:0 1600000000 #!/bin/sh');
    expect(made.find((r) => r.startsWith('app/two '))).toMatch(/=app\/one$/);
    expect((await readdir(root)).sort()).toEqual([layer.diffId.slice(7)]); // no temporary folder left
  });

  test('a layer with a device gets no folder; a discarded one leaves nothing', async () => {
    const fs = new StageFs();
    fs.set('dev', { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    fs.set('dev/null', { type: 'device', device: 'char', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0, mtime: 0 });
    const root = join(dir, 'layers-2');
    await mkdir(root);
    const store = new BlobStore(join(dir, 'cache'), process.pid);
    const entries = layerEntries(withParents(['dev/null']), fs);
    const layer = await storeLayer(entries, store, { compression: 'gzip' });
    await layerDirFromEntries(root, entries, fs).publish(layer);
    expect(await readdir(root)).toEqual([]);

    fs.set('dev', { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    fs.deleteTree('dev/null');
    fs.set('dev/x', { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1, source: { kind: 'bytes', data: Buffer.from('x') } });
    await layerDirFromEntries(root, layerEntries(withParents(['dev/x']), fs), fs).discard();
    expect(await readdir(root)).toEqual([]);
  });
});
