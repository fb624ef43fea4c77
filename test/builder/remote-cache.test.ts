/**
 * A step cache shared through a registry or an OCI layout folder: "machine B" (another cache folder,
 * the context at another path) builds from what "machine A" exported, fetching layers only when it
 * reads them; a changed file misses from its step on; and every fault (a registry down, a ref that
 * is not there, a foreign manifest at the ref, credentials) leaves a correct build and a warning.
 */
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions, type BuildResult } from '../../src';
import { cacheConfigOf, decodeCache, encodeCache, type CacheEntry } from '../../src/cache/cache-manifest';
import type { Digest } from '../../src/image/digest';
import { busyboxArchive } from '../support/busybox-base';
import { AUTH_PASSWORD, AUTH_REGISTRY, AUTH_USER, describeIntegration, REGISTRY, REGISTRY_DATA } from '../support/integration';

describeIntegration('a cache shared through a registry', ['registry', 'auth-registry', 'busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  let ctxA: string;
  const ref = (name: string): string => `${REGISTRY as string}/keel-test/cache-${name}:buildcache`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-remote-cache-'));
    base = await busyboxArchive(join(dir, 'bb'));
    ctxA = join(dir, 'machine-a', 'src');
    await mkdir(ctxA, { recursive: true });
    await writeFile(join(ctxA, 'Dockerfile'), [
      'FROM base AS deps',
      'COPY deps.txt /deps.txt',
      'RUN cat /deps.txt > /installed',
      'FROM base',
      'COPY --from=deps /installed /installed',
      'COPY app.txt /app.txt',
      'RUN cat /app.txt /installed > /built',
      '',
    ].join('\n'));
    await writeFile(join(ctxA, 'deps.txt'), 'dependencies\n');
    await writeFile(join(ctxA, 'app.txt'), 'the app\n');
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const machine = async (name: string): Promise<{ ctx: string; cacheDir: string }> => {
    const ctx = join(dir, name, 'checkout');
    await rm(join(dir, name), { recursive: true, force: true });
    await cp(ctxA, ctx, { recursive: true });
    return { ctx, cacheDir: join(dir, name, 'cache') };
  };
  const opts = (m: { ctx: string; cacheDir: string }, more: Partial<BuildOptions> = {}): BuildOptions => ({
    context: m.ctx, cacheDir: m.cacheDir, baseImages: { base }, cacheMaxSize: false, ...more,
  });
  const storedBlobs = async (cacheDir: string): Promise<string[]> => readdir(join(cacheDir, 'blobs', 'sha256')).catch(() => []);
  const cachedSteps = (r: BuildResult): boolean[] => r.steps.filter((s) => /RUN|COPY/.test(s.name)).map((s) => s.cached);

  test('machine B builds every step from A\'s cache (mode=max), the same image, and pushing to A\'s repository fetches no layer', async () => {
    const a = await build(opts({ ctx: ctxA, cacheDir: join(dir, 'machine-a', 'cache') }, {
      cacheTo: { type: 'registry', ref: ref('shared'), mode: 'max' }, tags: [`${REGISTRY as string}/keel-test/cache-app:1`], output: { type: 'registry' },
    }));
    expect(a.warnings).toEqual([]);
    const b = await machine('machine-b');
    const built = await build(opts(b, { cacheFrom: { type: 'registry', ref: ref('shared') }, tags: [`${REGISTRY as string}/keel-test/cache-app:1`], output: { type: 'registry' } }));
    expect(built.warnings).toEqual([]);
    expect(built.manifestDigest).toBe(a.manifestDigest);
    expect(cachedSteps(built)).toEqual([true, true, true, true, true]);
    // lazy: the step layers were never fetched (the push found them in the repository)
    const own = a.layers.slice(-3).map((l) => l.digest.slice(7));
    expect((await storedBlobs(b.cacheDir)).filter((h) => own.includes(h))).toEqual([]);
    // and an archive output fetches them, verified, when it reads them: the same image again
    const archived = await build(opts(b, { cacheFrom: { type: 'registry', ref: ref('shared') }, output: { type: 'oci-archive', path: join(dir, 'b.tar') } }));
    expect(archived.manifestDigest).toBe(a.manifestDigest);
    expect((await storedBlobs(b.cacheDir))).toEqual(expect.arrayContaining(own));
  });

  test('mode=min holds the final image\'s steps only; a one-file change misses from its step on', async () => {
    await build(opts({ ctx: ctxA, cacheDir: join(dir, 'machine-a', 'cache') }, { cacheTo: { type: 'registry', ref: ref('min') } }));
    const c = await machine('machine-c');
    const r = await build(opts(c, { cacheFrom: { type: 'registry', ref: ref('min') } }));
    // the deps stage's steps were not exported: they run; the final stage's hit (its keys hold the deps layer's diffID, made the same)
    expect(cachedSteps(r)).toEqual([false, false, true, true, true]);
    const d = await machine('machine-d');
    await writeFile(join(d.ctx, 'app.txt'), 'the app, changed\n');
    const changed = await build(opts(d, { cacheFrom: { type: 'registry', ref: ref('shared') } }));
    expect(cachedSteps(changed)).toEqual([true, true, true, false, false]);
  });

  test('an inline cache rides in the pushed image\'s config, and --cache-from the image hits the final stage\'s steps', async () => {
    const image = `${REGISTRY as string}/keel-test/cache-inline:1`;
    const a = await build(opts({ ctx: ctxA, cacheDir: join(dir, 'machine-a', 'cache') }, { cacheTo: { type: 'inline' }, tags: [image], output: { type: 'registry' } }));
    expect(a.image.config).toHaveProperty(['io.keel.cache.v1', 'records']);
    const p = await machine('machine-p');
    const r = await build(opts(p, { cacheFrom: { type: 'registry', ref: image }, cacheTo: { type: 'inline' } }));
    expect(r.warnings).toEqual([]);
    expect(cachedSteps(r)).toEqual([false, false, true, true, true]);
    expect(r.manifestDigest).toBe(a.manifestDigest);
  });

  test('an OCI layout folder works as a cache both ways', async () => {
    const folder = join(dir, 'cache-folder');
    await build(opts({ ctx: ctxA, cacheDir: join(dir, 'machine-a', 'cache') }, { cacheTo: { type: 'local', dest: folder, mode: 'max' } }));
    const e = await machine('machine-e');
    const r = await build(opts(e, { cacheFrom: { type: 'local', src: folder } }));
    expect(r.warnings).toEqual([]);
    expect(cachedSteps(r)).toEqual([true, true, true, true, true]);
  });

  test('faults: a registry down on export, a ref not there, an image without a cache at the ref, a damaged cache: warnings, and the right image', async () => {
    const plain = await build(opts(await machine('machine-f'), {}));
    const down = await build(opts(await machine('machine-g'), { cacheTo: { type: 'registry', ref: '127.0.0.1:1/keel-test/cache:x' } }));
    expect(down.manifestDigest).toBe(plain.manifestDigest);
    expect(down.warnings).toEqual([expect.stringMatching(/^the cache could not be exported to 127\.0\.0\.1:1\/keel-test\/cache:x: .*not reachable/)]);
    const missing = await build(opts(await machine('machine-h'), { cacheFrom: { type: 'registry', ref: ref('never-exported') } }));
    expect(missing.warnings).toEqual([`cache ${ref('never-exported')} not found: nothing imported from it`]);
    expect(missing.manifestDigest).toBe(plain.manifestDigest);
    // an ordinary image where a cache should be
    await build({ context: join(dir, 'bb'), dockerfile: { text: 'FROM base\n' }, baseImages: { base }, cacheDir: join(dir, 'foreign-cache'), tags: [ref('foreign')], output: { type: 'registry' } });
    const foreign = await build(opts(await machine('machine-i'), { cacheFrom: { type: 'registry', ref: ref('foreign') } }));
    expect(foreign.warnings).toEqual([`cache ${ref('foreign')} ignored: not a keel cache, and an image without an inline cache`]);
    expect(foreign.manifestDigest).toBe(plain.manifestDigest);
    expect(cachedSteps(foreign)).toEqual([false, false, false, false, false]);
    // a cache whose config blob in the registry is not what its manifest says (damaged in storage)
    await build(opts({ ctx: ctxA, cacheDir: join(dir, 'machine-a', 'cache') }, { cacheTo: { type: 'registry', ref: ref('damaged'), mode: 'max' } }));
    const manifest = await (await fetch(`http://${REGISTRY as string}/v2/keel-test/cache-damaged/manifests/buildcache`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).text();
    const configDigest = cacheConfigOf(Buffer.from(manifest)).digest;
    const blob = join(REGISTRY_DATA as string, 'docker', 'registry', 'v2', 'blobs', 'sha256', configDigest.slice(7, 9), configDigest.slice(7), 'data');
    await writeFile(blob, '{"version":1,"records":[]}');
    const damaged = await build(opts(await machine('machine-q'), { cacheFrom: { type: 'registry', ref: ref('damaged') } }));
    expect(damaged.warnings).toEqual([expect.stringMatching(/^cache .*damaged.* ignored: /)]);
    expect(damaged.manifestDigest).toBe(plain.manifestDigest);
  }, 30_000);

  test('two builds exporting to one ref at once leave one valid cache; a registry behind credentials takes the auth option', async () => {
    const [x, y] = await Promise.all(['machine-j', 'machine-k'].map(async (name) => build(opts(await machine(name), { cacheTo: { type: 'registry', ref: ref('race'), mode: 'max' } }))));
    expect([x?.warnings, y?.warnings]).toEqual([[], []]);
    const r = await build(opts(await machine('machine-l'), { cacheFrom: { type: 'registry', ref: ref('race') } }));
    expect(cachedSteps(r)).toEqual([true, true, true, true, true]);
    const auth = { [AUTH_REGISTRY as string]: { username: AUTH_USER, password: AUTH_PASSWORD } };
    const privateRef = `${AUTH_REGISTRY as string}/keel-test/cache-private:1`;
    expect((await build(opts(await machine('machine-m'), { cacheTo: { type: 'registry', ref: privateRef, mode: 'max' } }))).warnings).toEqual([expect.stringMatching(/could not be exported/)]);
    expect((await build(opts(await machine('machine-n'), { auth, cacheTo: { type: 'registry', ref: privateRef, mode: 'max' } }))).warnings).toEqual([]);
    const fromPrivate = await build(opts(await machine('machine-o'), { auth, cacheFrom: { type: 'registry', ref: privateRef } }));
    expect(cachedSteps(fromPrivate)).toEqual([true, true, true, true, true]);
  }, 30_000);
});

test('the cache artifact: records and layers read back as written; a damaged one is refused', () => {
  const d = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('a'), diffId: d('b'), size: 10 };
  const entries: CacheEntry[] = [{ key: d('1'), record: { layer } }, { key: d('2'), record: { layer: null } }];
  const enc = encodeCache(entries);
  expect(decodeCache(enc.manifest, enc.config)).toEqual(entries);
  expect(cacheConfigOf(enc.manifest).size).toBe(enc.config.length);
  expect(() => decodeCache(enc.manifest, Buffer.from('{}'))).toThrow(/not a keel cache: its config does not match/);
  const bad = Buffer.from(enc.manifest.toString().replace(layer.diffId, 'sha256:zz'));
  expect(() => decodeCache(bad, enc.config)).toThrow(/a layer descriptor is not valid/);
  expect(encodeCache([...entries].reverse()).manifestDigest).toBe(enc.manifestDigest);
});
