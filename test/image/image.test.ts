/** Layers, blobs and archives: deterministic bytes, verified storage, and archives real tools accept. */
import { mkdtemp, readFile, rm, readdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack } from 'tar-stream';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { GZIP_CHUNK, ParallelGzip } from '../../src/image/parallel-gzip';
import { BlobStore } from '../../src/cache/blob-store';
import { sha256 } from '../../src/image/digest';
import { assembleImage, type ImageConfig } from '../../src/image/image';
import { compareLayerPaths, layerDiffId, storeLayer, writeLayerTar, type LayerEntry } from '../../src/image/layer';
import { writeOciArchive, writeOciDir } from '../../src/output/index';
import { parseTag } from '../../src/image/reference';
import { isKeelError } from '../../src';
import { BUSYBOX, describeIntegration, docker, run } from '../support/integration';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-image-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

async function headersOf(tar: Buffer): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      out.push({ name: h.name, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, uname: h.uname, gname: h.gname, mtime: h.mtime.getTime() / 1000, linkname: h.linkname, size: h.size });
      stream.on('end', next);
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return out;
}

const base = { uid: 0, gid: 0, mtime: 315532800 };
const entries: LayerEntry[] = [
  { ...base, type: 'file', path: 'a.txt', mode: 0o644, size: 3, content: () => Buffer.from('abc') },
  { ...base, type: 'directory', path: 'a', mode: 0o755 },
  { ...base, type: 'file', path: 'a/b', mode: 0o600, uid: 1000, gid: 1000, size: 5, content: () => Readable.from([Buffer.from('hello')]) },
  { ...base, type: 'symlink', path: 'a/link', mode: 0o777, target: '../a.txt' },
  { type: 'whiteout', path: 'a/gone' },
  { ...base, type: 'file', path: 'é/ünïcode-and-a-very-long-name-'.padEnd(120, 'x'), mode: 0o644, size: 0, content: () => Buffer.alloc(0) },
  { ...base, type: 'directory', path: 'é', mode: 0o755 },
];

describe('layer tars', () => {
  test('paths sort as a sorted depth-first walk', () => {
    expect(['a.txt', 'a/b', 'a', 'a-b', 'a/b/c'].sort(compareLayerPaths)).toEqual(['a', 'a/b', 'a/b/c', 'a-b', 'a.txt']);
  });

  test('entries come out sorted, parents first, with numeric owners only and the given times', async () => {
    const headers = await headersOf(await collect(writeLayerTar(entries)));
    expect(headers.map((h) => [h.name, h.type, h.mode, h.uid, h.mtime])).toEqual([
      ['a/', 'directory', 0o755, 0, 315532800],
      ['a/.wh.gone', 'file', 0o644, 0, 0],
      ['a/b', 'file', 0o600, 1000, 315532800],
      ['a/link', 'symlink', 0o777, 0, 315532800],
      ['a.txt', 'file', 0o644, 0, 315532800],
      ['é/', 'directory', 0o755, 0, 315532800],
      ['é/ünïcode-and-a-very-long-name-'.padEnd(120, 'x'), 'file', 0o644, 0, 315532800],
    ]);
    expect(headers.every((h) => !h.uname && !h.gname)).toBe(true);
  });

  test('the same entries give the same bytes; a different mtime does not', async () => {
    const a = await collect(writeLayerTar(entries));
    const b = await collect(writeLayerTar([...entries].reverse()));
    expect(sha256(a)).toBe(sha256(b));
    const c = await collect(writeLayerTar(entries.map((e) => (e.type === 'whiteout' ? e : { ...e, mtime: 1 }))));
    expect(sha256(c)).not.toBe(sha256(a));
  });

  test('storeLayer computes diffID and digest in one pass, with a platform-neutral gzip header', async () => {
    const store = new BlobStore(dir);
    const layer = await storeLayer(entries, store);
    const tar = await collect(writeLayerTar(entries));
    expect(layer.diffId).toBe(sha256(tar));
    const blob = await readFile(store.path(layer.digest));
    expect(sha256(blob)).toBe(layer.digest);
    expect(blob.length).toBe(layer.size);
    expect(blob[9]).toBe(0xff);
    const again = await storeLayer(entries, store);
    expect(again).toEqual(layer);
  });

  test('layerDiffId is the diffID storeLayer finds; a store whose tar differs from the diffID given is refused (E_BUILD_INPUT)', async () => {
    const store = new BlobStore(dir);
    const diffId = await layerDiffId(entries);
    expect((await storeLayer(entries, store, { diffId })).diffId).toBe(diffId);
    // the same paths, one body changed between the two passes (a context file written meanwhile)
    const changed = entries.map((e) => (e.type === 'file' ? { ...e, size: 3, content: () => Buffer.from('new') } : e));
    await expect(storeLayer(changed, store, { diffId })).rejects.toMatchObject({ code: 'E_BUILD_INPUT', message: expect.stringMatching(/changed while it was written/) });
  });
});

describe('blob store', () => {
  test('a blob whose content does not match the expected digest is refused and not stored', async () => {
    const store = new BlobStore(dir);
    const wrong = sha256('something else');
    await expect(store.put(Readable.from([Buffer.from('data')]), wrong)).rejects.toMatchObject({ code: 'E_DIGEST_MISMATCH' });
    expect(await store.stat(wrong)).toBeUndefined();
    expect(await store.stat(sha256('data'))).toBeUndefined();
    expect((await readdir(join(dir, 'blobs', 'sha256'))).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  test('concurrent writers of the same blob never leave a torn file', async () => {
    const store = new BlobStore(dir);
    const data = Buffer.alloc(1 << 20, 7);
    const results = await Promise.all(Array.from({ length: 8 }, () => store.put(Readable.from([data]))));
    expect(new Set(results.map((r) => r.digest)).size).toBe(1);
    expect(sha256(await readFile(store.path(sha256(data))))).toBe(sha256(data));
  });

  test('opening a missing blob is E_BLOB_NOT_FOUND', async () => {
    const err: unknown = await new BlobStore(dir).open(sha256('nope')).catch((e: unknown) => e);
    expect(isKeelError(err, 'E_BLOB_NOT_FOUND')).toBe(true);
  });
});

describe('tags', () => {
  test.each([
    ['app', 'app:latest', 'docker.io/library/app:latest'],
    ['app:1', 'app:1', 'docker.io/library/app:1'],
    ['org/app:1.2', 'org/app:1.2', 'docker.io/org/app:1.2'],
    ['localhost:5000/app:x', 'localhost:5000/app:x', 'localhost:5000/app:x'],
    ['ghcr.io/org/sub/app', 'ghcr.io/org/sub/app:latest', 'ghcr.io/org/sub/app:latest'],
  ])('%s', (ref, familiar, full) => {
    expect(parseTag(ref)).toMatchObject({ familiar, full });
  });
  test.each(['App:1', 'app:-x', 'app@sha256:00', 'a//b'])('%s is refused', (ref) => {
    expect(() => parseTag(ref)).toThrow(/invalid tag/);
  });
});

function busyboxImage(store: BlobStore) {
  return async () => {
    const layer = await storeLayer(
      [
        { ...base, type: 'directory', path: 'bin', mode: 0o755 },
        { ...base, type: 'file', path: 'bin/busybox', mode: 0o755, size: (await readFile(BUSYBOX)).length, content: () => createReadStream(BUSYBOX) },
        { ...base, type: 'symlink', path: 'bin/sh', mode: 0o777, target: 'busybox' },
        { ...base, type: 'file', path: 'hello.txt', mode: 0o644, size: 6, content: () => Buffer.from('hello\n') },
      ],
      store,
    );
    const config: ImageConfig = {
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: { Cmd: ['/bin/sh', '-c', 'cat /hello.txt'], Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'test' }],
    };
    return assembleImage(config, [layer]);
  };
}

describeIntegration('archives real tools accept', ['docker', 'skopeo', 'umoci', 'busybox'], () => {
  test('docker load, docker run, skopeo inspect and umoci unpack accept the archive', async () => {
    const store = new BlobStore(join(dir, 'cache'));
    const image = await busyboxImage(store)();
    const archive = join(dir, 'img.tar');
    await writeOciArchive(image, ['keel-test/archive:1'], store, { os: 'linux', architecture: 'amd64' }, { path: archive });

    expect(docker(['load', '-i', archive]).stdout).toContain('keel-test/archive:1');
    expect(docker(['run', '--rm', '--network=none', 'keel-test/archive:1']).stdout).toBe('hello\n');
    const inspect = JSON.parse(run('skopeo', ['inspect', `oci-archive:${archive}`]).stdout) as { Digest: string; Layers: string[] };
    expect(inspect.Digest).toBe(image.manifestBlob.digest);
    expect(inspect.Layers).toEqual(image.layers.map((l) => l.digest));

    const layout = join(dir, 'layout');
    await writeOciDir(image, ['keel-test/archive:1'], store, layout);
    run('umoci', ['unpack', '--image', `${layout}:1`, join(dir, 'bundle')]);
    expect(await readFile(join(dir, 'bundle', 'rootfs', 'hello.txt'), 'utf8')).toBe('hello\n');
    docker(['rmi', 'keel-test/archive:1']);
  });
});

describe('parallel gzip', () => {
  async function gz(input: Buffer, pieces = 7): Promise<Buffer> {
    const parts: Buffer[] = [];
    const step = Math.ceil(input.length / pieces);
    for (let i = 0; i < input.length; i += step) parts.push(input.subarray(i, i + step));
    return collect(Readable.from(parts).pipe(new ParallelGzip(6)));
  }

  test('several members round-trip, come out the same however the input is cut, and pass on incompressible pieces', async () => {
    const text = Buffer.from('keel '.repeat(700_000)); // 3.5 MB: four members
    const noise = randomBytes(2 * GZIP_CHUNK);
    const input = Buffer.concat([text, noise]);
    const a = await gz(input, 3);
    const b = await gz(input, 11);
    expect(a.equals(b)).toBe(true);
    expect(gunzipSync(a).equals(input)).toBe(true);
    const members = [...a.entries()].filter(([i, v]) => v === 0x1f && a[i + 1] === 0x8b && a[i + 2] === 8 && a[i + 9] === 0xff).length;
    expect(members).toBeGreaterThanOrEqual(6);
    // text shrinks; the random part is stored, so it grows only by the framing
    expect(a.length).toBeLessThan(noise.length + text.length / 50 + 4096);
    expect(a.length).toBeGreaterThan(noise.length);
  });

  test('empty input is one empty gzip member', async () => {
    const out = await gz(Buffer.alloc(0));
    expect(gunzipSync(out).length).toBe(0);
  });
});

describe('compareLayerPaths', () => {
  // the order of a depth-first walk with sorted names, by the definition: names compared one by one
  const byNames = (a: string, b: string): number => {
    const x = a.split('/');
    const y = b.split('/');
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return (x[i] as string) < (y[i] as string) ? -1 : 1;
    return x.length - y.length;
  };
  test('orders as comparing the names one by one', () => {
    const name = fc.stringMatching(/^[a-zA-Z0-9.\- _~é]{1,4}$/);
    const path = fc.array(name, { minLength: 1, maxLength: 4 }).map((xs) => xs.join('/'));
    fc.assert(fc.property(path, path, (a, b) => Math.sign(compareLayerPaths(a, b)) === Math.sign(byNames(a, b))), { numRuns: 5000 });
    expect(['a.txt', 'a/b', 'a', 'a-b/c', 'a/b/c'].sort(compareLayerPaths)).toEqual(['a', 'a/b', 'a/b/c', 'a-b/c', 'a.txt']);
  });
});

describe('the layer tar writer', () => {
  // what tar-stream 3 writes for the same entries: the format keel's layers had before its own writer
  async function viaTarStream(entries: readonly LayerEntry[]): Promise<Buffer> {
    const p = pack();
    const parts: Buffer[] = [];
    p.on('data', (c: unknown) => {
      parts.push(c as Buffer);
    });
    const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
    for (const e of [...entries].sort((a, b) => compareLayerPaths(a.path, b.path))) {
      if (e.type === 'whiteout') continue;
      const common = { mode: e.mode, uid: e.uid, gid: e.gid, mtime: new Date(e.mtime * 1000) };
      if (e.type === 'directory') p.entry({ ...common, name: `${e.path}/`, type: 'directory' });
      else if (e.type === 'symlink') p.entry({ ...common, name: e.path, type: 'symlink', linkname: e.target });
      else if (e.type === 'hardlink') p.entry({ ...common, name: e.path, type: 'link', linkname: e.target });
      else if (e.type === 'file') p.entry({ ...common, name: e.path, type: 'file', size: e.size }, (await e.content()) as Buffer);
    }
    p.finalize();
    await done;
    return Buffer.concat(parts);
  }
  const bytesOf = async (r: Readable): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const c of r) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };

  test('writes the same bytes as tar-stream: long, nested and non-ASCII names, long link targets', async () => {
    const segment = fc.stringMatching(/^[a-z0-9é_.-]{1,40}$/).filter((s) => s !== '.' && s !== '..');
    const path = fc.array(segment, { minLength: 1, maxLength: 8 }).map((xs) => xs.join('/'));
    const meta = fc.record({ mode: fc.integer({ min: 1, max: 0o7777 }), uid: fc.integer({ min: 0, max: 0o777777 }), gid: fc.integer({ min: 0, max: 0o777777 }), mtime: fc.integer({ min: 0, max: 2 ** 31 - 1 }) });
    const entry = fc.oneof(
      fc.record({ path, meta, body: fc.uint8Array({ maxLength: 1500 }) }).map(({ path: p, meta: m, body }): LayerEntry => ({ type: 'file', path: p, ...m, size: body.length, content: () => Buffer.from(body) })),
      fc.record({ path, meta }).map(({ path: p, meta: m }): LayerEntry => ({ type: 'directory', path: p, ...m })),
      fc.record({ path, meta, target: fc.stringMatching(/^[a-zé/.]{1,160}$/) }).map(({ path: p, meta: m, target }): LayerEntry => ({ type: 'symlink', path: p, ...m, target })),
      fc.record({ path, meta, target: path }).map(({ path: p, meta: m, target }): LayerEntry => ({ type: 'hardlink', path: p, ...m, target })),
    );
    const unique = fc.uniqueArray(entry, { maxLength: 12, selector: (e) => e.path });
    await fc.assert(fc.asyncProperty(unique, async (entries) => {
      expect((await bytesOf(writeLayerTar(entries))).equals(await viaTarStream(entries))).toBe(true);
    }), { numRuns: 300 });
  });

  test('keeps what tar-stream lost: a mode of 0, ids over 6 octal digits (in PAX), mtimes after 2038', async () => {
    const entries: LayerEntry[] = [
      { type: 'file', path: 'locked', mode: 0, uid: 0, gid: 0, mtime: 1, size: 1, content: () => Buffer.from('x') },
      { type: 'file', path: 'mapped', mode: 0o644, uid: 1_000_000, gid: 2_000_000, mtime: 2 ** 32, size: 0, content: () => Buffer.alloc(0) },
    ];
    const dir = await mkdtemp(join(tmpdir(), 'keel-tar-'));
    const file = join(dir, 'layer.tar');
    await pipeline(writeLayerTar(entries), createWriteStream(file));
    // GNU tar reads PAX ids; tar-stream's extract keeps them in `pax` only
    const listing = spawnSync('tar', ['--numeric-owner', '--full-time', '-tvf', file], { encoding: 'utf8' }).stdout;
    expect(listing).toMatch(/^---------- 0\/0 .* locked\n-rw-r--r-- 1000000\/2000000 +0 2106-02-07 .*mapped\n$/);
    await rm(dir, { recursive: true, force: true });
  });
});
