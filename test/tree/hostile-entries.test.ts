/**
 * One table of layer stacks, hostile ones among them, run through both appliers of the same rules
 * (src/tree/entries.ts): into a stage's tree (apply-tree.ts, what COPY and RUN's copy path see) and
 * into layer folders stacked by overlayfs (snapshot/layer-dirs.ts, what RUN sees). Both must refuse
 * the same stacks, and give the same files for the others. Needs root (mknod, chown, overlay mounts).
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Header } from 'tar-stream';
import { isKeelError } from '../../src';
import { extractLayerDir, overlayLowers, type LayerDir } from '../../src/snapshot/layer-dirs';
import { deviceNode } from '../../src/snapshot/rootfs-copy';
import { applyTar } from '../../src/tree/apply-tree';
import { writeLayerTar } from '../../src/image/layer';
import { decompress } from '../../src/tree/decompress';
import { gzipSync } from 'node:zlib';
import { StageFs, type FsNode } from '../../src/tree/stage-fs';
import { describeIntegration } from '../support/integration';
import { tarOfHeaders } from '../support/tar-fixtures';

type Entry = Partial<Header> & { name: string; body?: string };

/** Headers default to root's (tar-stream would leave the owner out). */
const tar = (entries: readonly Entry[]): Promise<Buffer> => tarOfHeaders(entries.map((e) => ({ uid: 0, gid: 0, ...e })));

const file = (name: string, body: string, extra: Partial<Header> = {}): Entry => ({ name, type: 'file', mode: 0o644, body, ...extra });
const dir = (name: string, extra: Partial<Header> = {}): Entry => ({ name, type: 'directory', mode: 0o755, ...extra });
const symlink = (name: string, linkname: string): Entry => ({ name, type: 'symlink', linkname });
const hardlink = (name: string, linkname: string): Entry => ({ name, type: 'link', linkname });

type Listing = Record<string, string>;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 12);
const xattrText = (x: Readonly<Record<string, string>> | undefined): string =>
  Object.entries(x ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',');

function describeNode(n: FsNode, content: () => Buffer): string {
  const head = `${n.type} ${n.mode.toString(8)} ${n.uid}:${n.gid} t${n.mtime}`;
  const tail = n.type === 'file' ? `${n.size} ${sha(content())}` : n.type === 'symlink' ? `-> ${n.target}` : n.type === 'device' ? `${n.device} ${n.major}:${n.minor}` : '';
  return `${head} ${tail} [${xattrText(n.xattrs)}]`;
}

/** The stack applied to an in-memory tree. */
async function viaTree(layers: readonly Buffer[], work: string): Promise<Listing> {
  const fs = new StageFs();
  for (const [i, layer] of layers.entries()) {
    await applyTar(fs, Readable.from([layer]), 'none', { dest: '', contentDir: join(work, `content-${i}`), whiteouts: true, createdMtime: 0 });
  }
  const out: Listing = {};
  for (const p of fs.paths()) {
    const n = fs.get(p) as FsNode;
    out[p] = describeNode(n, () => (n.type === 'file' && n.source.kind === 'host' ? readFileSync(n.source.path) : Buffer.alloc(0)));
  }
  return out;
}

/** Extended attributes of every entry below `root`, as getfattr dumps them (base64 values). */
function xattrsBelow(root: string): Map<string, Record<string, string>> {
  const dump = spawnSync('getfattr', ['-R', '-d', '-m', '-', '-h', '-e', 'base64', '--absolute-names', root], { encoding: 'utf8' }).stdout;
  const found = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const line of dump.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {};
      found.set(line.slice('# file: '.length).slice(root.length + 1), current);
    } else if (current !== undefined && line.includes('=')) {
      const eq = line.indexOf('=');
      current[line.slice(0, eq)] = line.slice(eq + 1).replace(/^0s/, '');
    }
  }
  return found;
}

/** The stack extracted into layer folders and mounted with overlayfs; the merged view walked. */
async function viaFolders(layers: readonly Buffer[], work: string): Promise<Listing> {
  const dirs: LayerDir[] = [];
  for (const [i, layer] of layers.entries()) {
    const d = join(work, `layer-${i}`);
    const { opaqueRoot } = await extractLayerDir(Readable.from([layer]), d, { lowers: overlayLowers(dirs) });
    dirs.push({ path: d, opaqueRoot });
  }
  const lowers = overlayLowers(dirs); // as RUN stacks them: topmost first, none below an opaque root
  const empty = join(work, 'empty');
  await mkdir(empty);
  const merged = join(work, 'merged');
  await mkdir(merged);
  const mount = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${[...lowers, empty].join(':')}`, merged], { encoding: 'utf8' });
  if (mount.status !== 0) throw new Error(`mount: ${mount.stderr}`);
  try {
    const attrs = xattrsBelow(merged);
    const out: Listing = {};
    const walk = (rel: string): void => {
      for (const name of readdirSync(join(merged, rel)).sort()) {
        const p = rel === '' ? name : `${rel}/${name}`;
        const host = join(merged, p);
        const st = lstatSync(host, { bigint: true });
        const meta = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtime: Number(st.mtimeNs / 1_000_000_000n) };
        const x = attrs.get(p);
        const xattrs = x === undefined || Object.keys(x).length === 0 ? {} : { xattrs: x };
        let n: FsNode | undefined;
        if (st.isDirectory()) n = { type: 'directory', ...meta, ...xattrs };
        else if (st.isSymbolicLink()) n = { type: 'symlink', ...meta, mode: 0o777, target: readlinkSync(host), ...xattrs };
        else if (st.isFile()) n = { type: 'file', ...meta, size: Number(st.size), source: { kind: 'host', path: host, fingerprint: '' }, ...xattrs };
        else {
          const d = deviceNode(st, meta);
          n = d === undefined ? undefined : { ...d, ...xattrs };
        }
        if (n !== undefined) out[p] = describeNode(n, () => readFileSync(host));
        if (st.isDirectory()) walk(p);
      }
    };
    walk('');
    return out;
  } finally {
    spawnSync('umount', [merged]);
  }
}

const ok = 'the same files';
const refused = (pattern: RegExp) => pattern;

const cases: Array<[name: string, layers: Entry[][], expect: typeof ok | RegExp]> = [
  ['every kind of entry', [[
    dir('d'), file('d/f', 'body', { uid: 7, gid: 8, mode: 0o4755 }), symlink('d/s', '/etc/passwd'), hardlink('d/h', 'd/f'),
    { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 }, { name: 'dev/loop', type: 'block-device', mode: 0o660, devmajor: 7, devminor: 0 },
    { name: 'pipe', type: 'fifo', mode: 0o600 },
    file('cap', 'x', { pax: { 'SCHILY.xattr.user.comment': 'kept' } }),
  ]], ok],
  ["overlayfs' own attributes are dropped", [[file('a', 'x', { pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.user.overlay.redirect': '/etc', 'SCHILY.xattr.user.other': 'kept' } })]], ok],
  ['names climbing out land inside', [[file('../../evil', 'x'), file('/abs/x', 'y'), dir('./a/../b/')]], ok],
  ['a whiteout deletes a lower file or folder', [[dir('a'), file('a/x', '1'), file('keep', '2')], [file('.wh.a', ''), file('.wh.nothere', '')]], ok],
  ['an opaque folder hides what lower layers put in it', [[dir('a'), file('a/x', '1'), file('a/y', '2')], [dir('a'), file('a/.wh..wh..opq', ''), file('a/z', '3')]], ok],
  ['an opaque root hides every lower layer (overlayfs ignores the mark on a lower root)', [[dir('a'), file('a/x', '1'), file('top', '2')], [file('.wh..wh..opq', ''), file('new', '3')]], ok],
  ['a parent a lower layer has as a symlink becomes a folder', [[dir('etc'), file('etc/passwd', 'root'), symlink('l', '/etc')], [file('l/x', 'through?')]], ok],
  ['a parent the layer does not name keeps the lower folder', [[dir('d', { mode: 0o700, uid: 5, gid: 6 }), file('d/a', '1')], [file('d/b', '2')]], ok],
  ['a parent no layer names is made 0755 root', [[file('new/deep/x', '1')]], ok],
  ['a file then a folder of the same name', [[file('x', '1'), dir('x'), file('x/y', '2')]], ok],
  ['a path 1,000 levels deep', [['a/'.repeat(1000) + 'x'].map((n) => file(n, 'deep'))], ok],
  ['a path 10,000 levels deep is refused at once', [['a/'.repeat(10000) + 'x'].map((n) => file(n, 'deep'))], refused(/name or link of 20001 bytes is longer than 3072/)],
  ['a link 10,000 levels deep is refused', [[symlink('l', '../'.repeat(5000))]], refused(/longer than 3072/)],
  ['a whiteout of ..', [[file('a/.wh...', '')]], refused(/invalid whiteout/)],
  ['a whiteout of .', [[file('.wh..', '')]], refused(/invalid whiteout/)],
  ['an entry through a symlink of the same layer', [[symlink('l', '/etc'), file('l/x', 'x')]], refused(/which this layer made a non-folder/)],
  ['an entry under a file of the same layer', [[file('f', '1'), file('f/x', '2')]], refused(/which this layer made a non-folder/)],
  ['an entry under a folder the layer replaced with a file', [[dir('a'), file('a/x', '1'), file('a', 'now a file'), file('a/y', '2')]], refused(/which this layer made a non-folder/)],
  ['an entry under a path the layer whited out', [[file('.wh.a', ''), file('a/x', '1')]], refused(/which this layer made a non-folder/)],
  ['a hard link to a lower layer\'s file', [[file('f', '1')], [hardlink('g', 'f')]], refused(/hard link "g" points to "f"/)],
  ['a hard link climbing out', [[hardlink('pw', '../../../etc/passwd')]], refused(/hard link "pw" points to/)],
  ['a hard link to a folder', [[dir('d'), hardlink('h', 'd')]], refused(/not a file of this layer/)],
  ['a hard link to itself', [[hardlink('h', 'h')]], refused(/not a file of this layer/)],
  ['a file that would replace the root', [[file('/', 'x')]], refused(/would replace the root folder/)],
  ['a sparse file', [[file('s', 'x', { pax: { 'GNU.sparse.name': 's', 'GNU.sparse.major': '1' } })]], refused(/sparse file/)],
];

describeIntegration('both appliers follow one set of entry rules', ['runc'], () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'keel-entries-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  test.each(cases)('%s', async (name, entries, expected) => {
    const layers = await Promise.all(entries.map(tar));
    const at = await mkdtemp(join(work, `${name.replace(/[^a-z0-9]+/gi, '-')}-`));
    const tree = await viaTree(layers, join(at, 'tree')).catch((e: unknown) => e);
    const folders = await viaFolders(layers, join(at, 'folders')).catch((e: unknown) => e);
    if (expected instanceof RegExp) {
      for (const result of [tree, folders]) {
        expect(isKeelError(result, 'E_BUILD_INPUT')).toBe(true);
        expect((result as Error).message).toMatch(expected);
      }
      return;
    }
    expect(isKeelError(tree)).toBe(false);
    expect(folders).toEqual(tree);
    expect(Object.keys(tree as Listing).length).toBeGreaterThan(0);
  });

  test('a truncated layer, cut anywhere, is E_BUILD_INPUT from both appliers, never an uncaught error', async () => {
    const whole = gzipSync(await tar([file('a', 'x'.repeat(100_000)), dir('d'), file('d/b', 'y')]));
    for (let cut = 10; cut < whole.length; cut += Math.ceil(whole.length / 12)) {
      const part = whole.subarray(0, cut);
      const at = await mkdtemp(join(work, `cut-${cut}-`));
      const tree = await applyTar(new StageFs(), Readable.from([part]), 'gzip', { dest: '', contentDir: join(at, 'c'), whiteouts: true, createdMtime: 0 }).then(() => undefined, (e: unknown) => e);
      const folder = await extractLayerDir(decompress(Readable.from([part]), 'gzip'), join(at, 'd')).then(() => undefined, (e: unknown) => e);
      expect([cut, isKeelError(tree, 'E_BUILD_INPUT'), isKeelError(folder, 'E_BUILD_INPUT')]).toEqual([cut, true, true]);
    }
    // and in a process of its own (the built package), where an error nobody listens for ends the process
    const script = `
      const { applyTar, StageFs } = require(${JSON.stringify(join(__dirname, '..', '..', 'dist', 'tree', 'index.js'))});
      const { Readable } = require('node:stream');
      const whole = Buffer.from(process.argv[1], 'base64');
      (async () => {
        for (let cut = 10; cut < whole.length; cut += 10) {
          const e = await applyTar(new StageFs(), Readable.from([whole.subarray(0, cut)]), 'gzip', { dest: '', contentDir: process.argv[2], whiteouts: true, createdMtime: 0 }).then(() => undefined, (err) => err);
          if (e?.code !== 'E_BUILD_INPUT') console.log('cut', cut, e?.code);
          await new Promise((r) => setTimeout(r, 5));
        }
        console.log('all refused');
      })();`;
    const cutAt = spawnSync(process.execPath, ['-e', script, whole.toString('base64'), join(work, 'child-c')], { encoding: 'utf8' });
    expect([cutAt.status, cutAt.stdout.trim(), cutAt.stderr]).toEqual([0, 'all refused', '']);
  });

  test('an extended attribute whose bytes have the high bit set (a file capability) comes through both appliers exactly', async () => {
    // cap_setuid..cap_sys_admin and more: the permitted mask's bytes are 0xff
    const capability = Buffer.from('0100000200ffffffff0000000000000000000000', 'hex');
    const layer = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      writeLayerTar([{ type: 'file', path: 'ping', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 2, content: () => Buffer.from('x\n'), xattrs: { 'security.capability': capability.toString('base64'), 'user.bin': Buffer.from([0x01, 0xff, 0x80, 0xfe]).toString('base64') } }])
        .on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts))).on('error', reject);
    });
    const tree = await viaTree([layer], await mkdtemp(join(work, 'cap-tree-')));
    const folders = await viaFolders([layer], await mkdtemp(join(work, 'cap-folders-')));
    expect(folders).toEqual(tree);
    expect(tree.ping).toContain(`security.capability=${capability.toString('base64')}`);
    expect(tree.ping).toContain(`user.bin=${Buffer.from([0x01, 0xff, 0x80, 0xfe]).toString('base64')}`);
  });

  test('the table means what it says: a lower symlink in the way does not lead outside', async () => {
    const layers = await Promise.all([[dir('etc'), file('etc/passwd', 'root'), symlink('l', '/etc')], [file('l/x', 'through?')]].map(tar));
    const tree = await viaTree(layers, join(work, 'check'));
    expect(tree['l']).toMatch(/^directory 755 0:0 t0 /);
    expect(tree['l/x']).toMatch(/^file /);
    expect(tree['etc/x']).toBeUndefined();
  });
});
