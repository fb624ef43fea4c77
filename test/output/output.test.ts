/**
 * The outputs below build(): each sink takes an image and a blob reader (the narrowest role), the
 * folder output works from a store that has no files, and a push without tags is refused before
 * any request. Image checked with skopeo/docker elsewhere (test/image); here the layout itself.
 */
import { lstat as lst, mkdir, mkdtemp, readFile, readdir, readdir as rd, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { build } from '../../src';
import { BlobStore } from '../../src/cache/blob-store';
import { assembleImage, type ImageConfig } from '../../src/image/image';
import type { BlobReader } from '../../src/image/content';
import { storeLayer } from '../../src/image/layer';
import { writeOutput } from '../../src/output';
import { writeRootfsDir } from '../../src/output/rootfs';

let dir: string;
let store: BlobStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-output-'));
  store = new BlobStore(join(dir, 'store'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function image() {
  const layer = await storeLayer([{ type: 'file', path: 'hello.txt', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 6, content: () => Buffer.from('hello\n') }], store);
  const config: ImageConfig = { architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:00Z', config: {}, rootfs: { type: 'layers', diff_ids: [layer.diffId] }, history: [] };
  return assembleImage(config, [layer]);
}

const HOST = { os: 'linux', architecture: 'amd64' } as const;

const noRootfs = (): never => {
  throw new Error('no rootfs output here');
};

test('oci-dir from a store without files: blobs streamed, index names the tag', async () => {
  const img = await image();
  const streamed: BlobReader = { stat: (d) => store.stat(d), open: (d) => store.open(d) }; // no path()
  const out = join(dir, 'layout');
  await writeOutput(img, { type: 'oci-dir', path: out }, { tags: ['app:1'], blobs: streamed, registry: {}, rootfs: noRootfs, hostPlatform: HOST });
  const blobs = await readdir(join(out, 'blobs', 'sha256'));
  expect(blobs.sort()).toEqual([img.configBlob.digest, img.manifestBlob.digest, img.layers[0]?.digest].map((d) => (d as string).slice(7)).sort());
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
  expect(index.manifests[0]).toMatchObject({ digest: img.manifestBlob.digest, annotations: { 'io.containerd.image.name': 'docker.io/library/app:1', 'org.opencontainers.image.ref.name': '1' } });
  expect(await readFile(join(out, 'blobs', 'sha256', (img.layers[0]?.digest as string).slice(7)))).toEqual(await readFile(store.path(img.layers[0]?.digest as never)));
});

// issue 24: tar=false ran rm -rf on any existing folder (dest=. wiped the current folder)
test('oci-dir into an existing folder: written into when empty or a layout, refused otherwise and left as it was', async () => {
  const img = await image();
  const opts = { tags: ['app:1'], blobs: store, registry: {}, rootfs: noRootfs, hostPlatform: HOST };
  const project = join(dir, 'project');
  await mkdir(project);
  await writeFile(join(project, 'main.c'), 'int main(void) { return 0; }\n');
  await expect(writeOutput(img, { type: 'oci-dir', path: project }, opts)).rejects.toMatchObject({ code: 'E_BUILD_INPUT', message: expect.stringMatching(/neither empty nor an OCI layout/) });
  await expect(build({ context: project, dockerfile: { text: 'FROM scratch\nCOPY main.c /\n' }, cacheDir: join(dir, 'c'), output: { type: 'oci-dir', path: project } })).rejects.toMatchObject({ code: 'E_BUILD_INPUT' });
  expect(await readdir(project)).toEqual(['main.c']);
  const empty = join(dir, 'empty');
  await mkdir(empty);
  await writeOutput(img, { type: 'oci-dir', path: empty }, opts);
  expect((await readdir(empty)).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
  // a layout again: the blobs it has are kept (a stray one too), index.json replaced
  await writeFile(join(empty, 'blobs', 'sha256', 'stray'), 'x');
  await writeOutput(img, { type: 'oci-dir', path: empty }, { ...opts, tags: ['app:2'] });
  expect(await readdir(join(empty, 'blobs', 'sha256'))).toContain('stray');
  const index = JSON.parse(await readFile(join(empty, 'index.json'), 'utf8')) as { manifests: Array<{ annotations: Record<string, string> }> };
  expect(index.manifests[0]?.annotations['org.opencontainers.image.ref.name']).toBe('2');
});

test('oci-archive: the same image twice gives the same bytes', async () => {
  const img = await image();
  const a = join(dir, 'a.tar');
  const b = join(dir, 'b.tar');
  await writeOutput(img, { type: 'oci-archive', path: a }, { tags: ['app:1'], blobs: store, registry: {}, rootfs: noRootfs, hostPlatform: HOST });
  await writeOutput(img, { type: 'oci-archive', path: b }, { tags: ['app:1'], blobs: store, registry: {}, rootfs: noRootfs, hostPlatform: HOST });
  expect((await readFile(a)).equals(await readFile(b))).toBe(true);
});

// issue 23: an output that already holds the same image is not rewritten
test('oci-archive: a file that is the same archive already is left as it is; any difference rewrites it', async () => {
  const img = await image();
  const out = join(dir, 'kept.tar');
  const opts = { tags: ['app:1'], blobs: store, registry: {}, rootfs: noRootfs, hostPlatform: HOST };
  await writeOutput(img, { type: 'oci-archive', path: out }, opts);
  const first = await lst(out);
  const bytes = await readFile(out);
  await writeOutput(img, { type: 'oci-archive', path: out }, opts);
  expect((await lst(out)).ino).toBe(first.ino); // not written beside and renamed: left as it was
  // another tag: index.json differs, so the archive is written again (a new file renamed into place)
  await writeOutput(img, { type: 'oci-archive', path: out }, { ...opts, tags: ['app:2'] });
  expect((await lst(out)).ino).not.toBe(first.ino);
  // a damaged one (cut short) is written again whole
  await writeFile(out, bytes.subarray(0, bytes.length - 1024));
  await writeOutput(img, { type: 'oci-archive', path: out }, opts);
  expect((await readFile(out)).equals(bytes)).toBe(true);
});

test('a push with no tag is refused before any request', async () => {
  const img = await image();
  const never: BlobReader = { stat: () => Promise.reject(new Error('read')), open: () => Promise.resolve(Readable.from([])) };
  await expect(writeOutput(img, { type: 'registry' }, { tags: [], blobs: never, registry: {}, rootfs: noRootfs, hostPlatform: HOST })).rejects.toThrow(expect.objectContaining({ code: 'E_BUILD_INPUT' }));
});

test('oci-archive: a blob the cache gives short is a clear E_CACHE, and no archive (nor a stray temp file) is left', async () => {
  const img = await image();
  const layer = img.layers[0]?.digest as string;
  // the layer's bytes cut short, as a damaged cache would give them
  const short: BlobReader = { stat: (d) => store.stat(d), open: async (d) => (d === layer ? Readable.from([(await readFile(store.path(d as never))).subarray(0, 10)]) : store.open(d)) };
  const out = join(dir, 'short', 'x.tar');
  await mkdir(join(dir, 'short'));
  await expect(writeOutput(img, { type: 'oci-archive', path: out }, { tags: ['app:1'], blobs: short, registry: {}, rootfs: noRootfs, hostPlatform: HOST })).rejects.toThrow(expect.objectContaining({ code: 'E_CACHE' }));
  expect(await readdir(join(dir, 'short'))).toEqual([]);
});

test('an abort while the output is being written is E_ABORTED, and a stream output is left open to its owner', async () => {
  const ctx = join(dir, 'abort-ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
  await writeFile(join(ctx, 'big'), Buffer.alloc(4 << 20, 7));
  // a reader that takes the first chunk and then never asks for more: the write waits on backpressure
  let wrote = 0;
  const stuck = new Writable({ highWaterMark: 1, write: (chunk: Buffer, _enc, cb) => { wrote += chunk.length; if (wrote < 1024) cb(); } });
  const ac = new AbortController();
  const building = build({ context: ctx, cacheDir: join(dir, 'abort-cache'), output: { type: 'oci-archive', stream: stuck }, signal: ac.signal });
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (wrote > 0) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });
  ac.abort();
  await expect(building).rejects.toMatchObject({ code: 'E_ABORTED' });
  expect(stuck.destroyed).toBe(false);
});

// issue 24: type=local as root wrote a hostile image's device nodes and setuid-root files as they were
describe('type=local writes the caller\'s files', () => {
  const asRoot = process.getuid?.() === 0 ? test : test.skip;
  asRoot('no device nodes, no setuid/setgid bits, no file capabilities; every file the caller\'s', async () => {
    const meta = { mode: 0o755, uid: 0, gid: 0, mtime: 0 };
    const out = join(dir, 'local-owned');
    await writeRootfsDir([
      { type: 'directory', path: 'bin', ...meta },
      { type: 'file', path: 'bin/sh', ...meta, mode: 0o4755, size: 2, content: () => Buffer.from('sh'), xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2]).toString('base64'), 'user.note': Buffer.from('kept').toString('base64') } },
      { type: 'file', path: 'bin/sg', ...meta, mode: 0o2711, uid: 33, gid: 33, size: 2, content: () => Buffer.from('sg') },
      { type: 'directory', path: 'dev', ...meta },
      { type: 'device', path: 'dev/sda', ...meta, mode: 0o666, device: 'block', major: 8, minor: 0 },
      { type: 'device', path: 'dev/mem', ...meta, mode: 0o666, device: 'char', major: 1, minor: 1 },
      { type: 'hardlink', path: 'dev/sda2', ...meta, target: 'dev/sda' },
      { type: 'device', path: 'dev/pipe', ...meta, mode: 0o644, device: 'fifo', major: 0, minor: 0 },
      { type: 'directory', path: 'tmp', ...meta, mode: 0o1777 },
    ], out, { uid: 1234, gid: 4321 });
    expect((await rd(join(out, 'dev'))).sort()).toEqual(['pipe']);
    for (const [path, mode] of [['bin/sh', 0o755], ['bin/sg', 0o711], ['tmp', 0o1777], ['dev/pipe', 0o644]] as const) {
      const st = await lst(join(out, path));
      expect([path, st.mode & 0o7777, st.uid, st.gid]).toEqual([path, mode, 1234, 4321]);
    }
    const caps = spawnSync('getfattr', ['-d', '-m', '-', join(out, 'bin', 'sh')], { encoding: 'utf8' }).stdout;
    expect(caps).not.toContain('security.capability');
  });
});

test('an output type keel does not have (a JavaScript caller\'s typo) is a usage error before any work, not a TypeError', async () => {
  const ctx = join(dir, 'typo-ctx');
  await mkdir(ctx, { recursive: true });
  const output = JSON.parse('{"type":"docker-archive","path":"x.tar"}') as Parameters<typeof build>[0]['output'];
  await expect(build({ context: ctx, dockerfile: { text: 'FROM scratch\n' }, cacheDir: join(dir, 'typo-cache'), output }))
    .rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/unknown output type "docker-archive" \(one of oci-archive, oci-dir/) });
});
