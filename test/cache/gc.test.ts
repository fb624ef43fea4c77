/**
 * Garbage collection: what a cache holds (by kind, size, last use), which units a policy removes
 * (least recently used first), that nothing is removed while another build uses the cache, that a
 * build waits while a collection runs, that builds keep the cache within its budget, and that the
 * cache stays valid whatever was removed (the next build is the same image).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, diskUsage, isKeelError, parseSize, prune } from '../../src';
import { choose } from '../../src/cache/prune';
import { du, type CacheUnit } from '../../src/cache/usage';
import { parseDuration } from '../../src/cli/cache-commands';
import { busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-gc-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const unit = (path: string, size: number, lastUsed: number, kind: CacheUnit['kind'] = 'blob'): CacheUnit => ({ kind, path, size, lastUsed });

describe('which units a policy removes', () => {
  const units = [unit('a', 100, 3), unit('b', 100, 1), unit('c', 100, 2), unit('trash/x', 50, 9, 'leftover')];
  test('leftovers always; nothing else without a policy', () => {
    expect(choose(units, {}).map((u) => u.path)).toEqual(['trash/x']);
  });
  test('keepBytes: least recently used first, until the rest fits', () => {
    expect(choose(units, { keepBytes: 150 }).map((u) => u.path)).toEqual(['trash/x', 'b', 'c']);
    expect(choose(units, { keepBytes: 300 }).map((u) => u.path)).toEqual(['trash/x']);
  });
  test('usedBefore limits what keepBytes and all take (leftovers too); alone it takes everything older', () => {
    expect(choose(units, { keepBytes: 0, usedBefore: 2 }).map((u) => u.path)).toEqual(['b']);
    expect(choose(units, { all: true, usedBefore: 3 }).map((u) => u.path)).toEqual(['b', 'c']);
    expect(choose(units, { usedBefore: 3 }).map((u) => u.path)).toEqual(['b', 'c']);
    expect(choose(units, { usedBefore: 10 }).map((u) => u.path)).toEqual(['trash/x', 'b', 'c', 'a']);
    expect(choose(units, { all: true }).map((u) => u.path)).toEqual(['trash/x', 'b', 'c', 'a']);
  });
});

test('sizes and durations as docker writes them', () => {
  expect(['2000', '512k', '10GB', '1.5g', '2GiB', '3mb'].map(parseSize)).toEqual([2000, 524288, 10 * 1024 ** 3, 1.5 * 1024 ** 3, 2 * 1024 ** 3, 3 * 1024 ** 2]);
  expect(() => parseSize('lots')).toThrow(/not a size/);
  expect(['24h', '1h30m', '90s', '500ms'].map(parseDuration)).toEqual([86_400_000, 5_400_000, 90_000, 500]);
  expect(() => parseDuration('1 day')).toThrow(/not a duration/);
});

test('du: file sizes and a block per folder, links not followed, across more entries than one slice', async () => {
  const root = join(dir, 'du-tree');
  await mkdir(join(root, 'a', 'b'), { recursive: true });
  await writeFile(join(root, 'a', 'one'), Buffer.alloc(10));
  await writeFile(join(root, 'a', 'b', 'two'), Buffer.alloc(20));
  await symlink('/usr', join(root, 'usr'));
  const many = join(root, 'many');
  await mkdir(many);
  for (let i = 0; i < 1500; i++) await writeFile(join(many, `f${i}`), Buffer.alloc(i % 7));
  const manyBytes = Array.from({ length: 1500 }, (_, i) => i % 7).reduce((a, b) => a + b, 0);
  expect(await du(root)).toBe(4 * 4096 + 10 + 20 + '/usr'.length + manyBytes);
  expect(await du(join(dir, 'not-there'))).toBe(0);
});

/** A context whose one COPY makes a layer of `bytes` distinct bytes. */
async function context(name: string, bytes: number): Promise<string> {
  const ctx = join(dir, name);
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY data /data\n');
  await writeFile(join(ctx, 'data'), randomBytes(bytes)); // hardly compresses
  return ctx;
}

/** A child process that stays alive: its pid holds a lease or a collection mark. */
const holder = (): ChildProcess => spawn('sleep', ['60'], { stdio: 'ignore' });

test('du lists what builds left; prune --keep-storage takes the least recently used; the cache stays valid', async () => {
  const cache = join(dir, 'lru');
  const old = await context('old', 300_000);
  const recent = await context('recent', 300_000);
  const first = await build({ context: old, cacheDir: cache, cacheMaxSize: false });
  await new Promise((r) => setTimeout(r, 20));
  const second = await build({ context: recent, cacheDir: cache, cacheMaxSize: false });
  const before = await diskUsage({ cacheDir: cache });
  const blobPaths = before.units.filter((u) => u.kind === 'blob').map((u) => u.path);
  expect(blobPaths).toEqual(expect.arrayContaining([first, second].map((r) => join('blobs', 'sha256', (r.layers[0]?.digest as string).slice(7)))));
  expect(before.byKind.blob.size).toBeGreaterThan(300_000); // two layers that hardly compress

  const oldBlob = before.units.find((u) => u.path.endsWith((first.layers[0]?.digest as string).slice(7))) as CacheUnit;
  const result = await prune({ cacheDir: cache, keepBytes: before.total - oldBlob.size });
  expect(result.removed.map((u) => u.path)).toEqual([oldBlob.path]);
  expect(result.kept).toBe(before.total - oldBlob.size);
  // the step of the pruned layer misses and makes the same layer again; the other still hits
  const again = await build({ context: old, cacheDir: cache, cacheMaxSize: false });
  expect(again.layers[0]).toMatchObject({ digest: first.layers[0]?.digest, cached: false });
  expect((await build({ context: recent, cacheDir: cache, cacheMaxSize: false })).layers[0]).toMatchObject({ digest: second.layers[0]?.digest, cached: true });
  // --filter until: nothing was unused for an hour; --all removes every unit
  expect((await prune({ cacheDir: cache, olderThanMs: 3_600_000 })).removed).toEqual([]);
  await prune({ cacheDir: cache, all: true });
  expect((await diskUsage({ cacheDir: cache })).total).toBe(0);
  expect((await build({ context: recent, cacheDir: cache })).manifestDigest).toBe(second.manifestDigest);
});

test('nothing is removed while another build holds a lease; a dead build\'s lease does not count', async () => {
  const cache = join(dir, 'leased');
  await build({ context: await context('leased', 1000), cacheDir: cache });
  const child = holder();
  try {
    await writeFile(join(cache, 'leases', `${child.pid as number}-abcdef`), '');
    const e = await prune({ cacheDir: cache, all: true }).then(() => undefined, (x: unknown) => x);
    expect(isKeelError(e, 'E_CACHE')).toBe(true);
    expect((e as Error).message).toMatch(/1 build\(s\) are using the cache folder/);
    expect((await diskUsage({ cacheDir: cache })).units.length).toBeGreaterThan(0);
  } finally {
    child.kill();
  }
  await new Promise((r) => child.on('exit', r));
  await prune({ cacheDir: cache, all: true });
  expect((await diskUsage({ cacheDir: cache })).total).toBe(0);
  expect(await readdir(join(cache, 'leases'))).toEqual([]); // the dead one was cleared
});

test('a build waits while a collection runs, and goes on when it ends', async () => {
  const cache = join(dir, 'collecting');
  const ctx = await context('collecting', 1000);
  await build({ context: ctx, cacheDir: cache });
  const child = holder();
  let done = false;
  try {
    await writeFile(join(cache, 'leases', 'collecting'), String(child.pid));
    const building = build({ context: ctx, cacheDir: cache }).then((r) => {
      done = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(done).toBe(false);
    await rm(join(cache, 'leases', 'collecting'));
    await building;
    expect(done).toBe(true);
  } finally {
    child.kill();
  }
});

test('a build keeps the cache within cacheMaxSize: what it used stays, the least recently used goes', async () => {
  const cache = join(dir, 'budget');
  const a = await context('budget-a', 200_000);
  const b = await context('budget-b', 200_000);
  const ra = await build({ context: a, cacheDir: cache, cacheMaxSize: false });
  const units = (await diskUsage({ cacheDir: cache })).total;
  // a collection ran less than a minute ago is not run again: make the last one old
  await writeFile(join(cache, 'gc-last'), '');
  await utimes(join(cache, 'gc-last'), new Date(0), new Date(0));
  const rb = await build({ context: b, cacheDir: cache, cacheMaxSize: units + 1000 });
  const left = await diskUsage({ cacheDir: cache });
  const has = (digest: string | undefined): boolean => left.units.some((u) => u.path.endsWith((digest as string).slice(7)));
  expect(has(rb.layers[0]?.digest)).toBe(true);
  expect(has(ra.layers[0]?.digest)).toBe(false);
  expect(left.total).toBeLessThanOrEqual(units + 1000);
  // a budget that is not a size is refused before the build
  await expect(build({ context: b, cacheDir: cache, cacheMaxSize: -1 })).rejects.toMatchObject({ code: 'E_BUILD_INPUT' });
});

describeIntegration('collecting layer folders', ['busybox', 'runc'], () => {
  test('RUN\'s layer folders are units; pruned, they are made again and the image is the same', async () => {
    const cache = join(dir, 'folders');
    const base = await busyboxArchive(join(dir, 'bb'));
    const ctx = join(dir, 'run-ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), 'FROM base\nRUN echo one > /one\nRUN cat /one > /two\n');
    const opts = { context: ctx, cacheDir: cache, baseImages: { base }, cacheMaxSize: false as const };
    const first = await build(opts);
    const usage = await diskUsage({ cacheDir: cache });
    expect(usage.byKind['layer folder'].count).toBeGreaterThanOrEqual(3); // the base's and the two RUNs'
    await prune({ cacheDir: cache, all: true });
    expect((await diskUsage({ cacheDir: cache })).byKind['layer folder'].count).toBe(0);
    const again = await build({ ...opts, noCache: true });
    expect(again.manifestDigest).toBe(first.manifestDigest);
  });
});
