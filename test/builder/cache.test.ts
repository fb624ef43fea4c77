/** The instruction cache: hits, misses with reasons, safety against a damaged cache, and key hygiene. */
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build, type BuildEvent } from '../../src';
import { cacheKey, explainMiss, explainRunMiss, runRecipe, type Recipe } from '../../src/builder/cache-key';
import { sha256 } from '../../src/image/digest';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const DOCKERFILE = 'FROM scratch\nCOPY package.json /app/\nCOPY src/ /app/src/\nENV A=1\nCOPY README /app/\nWORKDIR /app/data\n';
const FILES: Record<string, string> = { Dockerfile: DOCKERFILE, 'package.json': '{}', 'src/index.js': 'one', 'src/util.js': 'two', README: 'r' };

async function context(): Promise<string> {
  const root = join(dir, 'ctx');
  for (const [p, c] of Object.entries(FILES)) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), c);
  }
  return root;
}

async function run(ctx: string, extra: { noCache?: boolean } = {}) {
  const events: BuildEvent[] = [];
  const result = await build({ context: ctx, cacheDir: join(dir, 'cache'), onProgress: (e) => events.push(e), ...extra });
  const layerSteps = events.filter((e): e is Extract<BuildEvent, { type: 'step-done' }> => e.type === 'step-done' && /COPY|WORKDIR/.test(e.name));
  return { result, steps: layerSteps.map((e) => [e.name.replace(/^\[\d+\/\d+\] /, ''), e.cached, e.reason ?? '']) };
}

describe('instruction cache', () => {
  test('an unchanged rebuild hits every step, even after touching every file', async () => {
    const ctx = await context();
    const first = await run(ctx);
    expect(first.steps.every(([, cached]) => cached === false)).toBe(true);
    expect(first.steps[0]?.[2]).toBe('not built before');
    for (const p of Object.keys(FILES)) await utimes(join(ctx, p), new Date(), new Date());
    const second = await run(ctx);
    expect(second.steps.map(([, cached]) => cached)).toEqual([true, true, true, true]);
    expect(second.result.manifestDigest).toBe(first.result.manifestDigest);
    expect(second.result.layers.every((l) => l.cached)).toBe(true);
  });

  test('one changed file rebuilds only the step that reads it, and says why', async () => {
    const ctx = await context();
    const first = await run(ctx);
    await writeFile(join(ctx, 'src/index.js'), 'changed');
    const second = await run(ctx);
    expect(second.steps).toEqual([
      ['COPY package.json /app/', true, ''],
      ['COPY src/ /app/src/', false, 'app/src/index.js changed'],
      ['COPY README /app/', true, ''],
      ['WORKDIR /app/data', true, ''],
    ]);
    expect(second.result.manifestDigest).not.toBe(first.result.manifestDigest);
    await writeFile(join(ctx, 'src/new.js'), 'n');
    expect((await run(ctx)).steps[1]).toEqual(['COPY src/ /app/src/', false, 'app/src/new.js added']);
  });

  test('--no-cache rebuilds everything and gives the same image', async () => {
    const ctx = await context();
    const first = await run(ctx);
    const again = await run(ctx, { noCache: true });
    expect(again.steps.map(([, cached, reason]) => [cached, reason])).toEqual(Array(4).fill([false, '--no-cache']));
    expect(again.result.manifestDigest).toBe(first.result.manifestDigest);
  });

  test('a blob missing from the store, or a corrupt cache entry, is a miss that rebuilds it', async () => {
    const ctx = await context();
    const first = await run(ctx);
    const blobs = join(dir, 'cache', 'blobs', 'sha256');
    await rm(join(blobs, (first.result.layers[1]?.digest ?? '').slice(7)));
    const steps = join(dir, 'cache', 'steps');
    for (const f of await readdir(steps)) if (f.endsWith('.json')) await writeFile(join(steps, f), f.startsWith('0') ? '{"layer":' : '{"layer":{"digest":"nope"}}');
    await writeFile(join(dir, 'cache', 'stat-cache.json'), 'garbage');
    const second = await run(ctx);
    expect(second.result.manifestDigest).toBe(first.result.manifestDigest);
    expect(second.steps[1]?.[1]).toBe(false);
    const third = await run(ctx);
    expect(third.steps.map(([, cached]) => cached)).toEqual([true, true, true, true]);
  });

  test('keys are sha256 over canonical JSON, so values that serialise alike elsewhere stay apart', () => {
    const base: Recipe = { version: 1, instruction: 'COPY', compression: 'gzip', entries: [] };
    const a: Recipe = { ...base, entries: [['a","b', 'file', 0o644, 0, 0, 0, 1, '', 'x']] };
    const b: Recipe = { ...base, entries: [['a', 'file', 0o644, 0, 0, 0, 1, '', 'x'], ['b', 'file', 0o644, 0, 0, 0, 1, '', 'x']] };
    const c: Recipe = { ...base, entries: [['a', 'file', 0o644, 0, 0, 0, 1, '', 'x,b']] };
    const keys = new Set([cacheKey(a), cacheKey(b), cacheKey(c), cacheKey(base)]);
    expect(keys.size).toBe(4);
    expect(cacheKey({ ...a, instruction: 'other text' })).toBe(cacheKey(a)); // the text explains; entries decide
    expect(explainMiss(undefined, a)).toBe('not built before');
    expect(explainMiss(b, a)).toBe('a","b added (and 2 more)');
  });

  test('a RUN\'s miss is explained from what it sees: variables by name (never a value), then its parent', () => {
    const inputs = {
      parent: sha256('p'), args: ['/bin/sh', '-c', 'make'], env: [['PATH', '/bin'], ['TOKEN', 'hunter2']] as Array<[string, string]>, cwd: '/src', user: '', network: 'sandbox',
      security: 'sandbox', platform: 'linux/amd64', mounts: [], extraHosts: [], layers: 'gzip', epoch: 315532800, devices: [],
    };
    const was = runRecipe(inputs);
    expect(JSON.stringify(was)).not.toContain('hunter2');
    expect(JSON.stringify(was)).not.toContain('make');
    expect(explainRunMiss(undefined, was)).toBe('not built before');
    expect(explainRunMiss(JSON.parse(JSON.stringify(was)), was)).toBe('the cached layer is gone');
    expect(explainRunMiss(was, runRecipe({ ...inputs, env: [['PATH', '/bin'], ['TOKEN', 'other']] }))).toBe('TOKEN changed');
    expect(explainRunMiss(was, runRecipe({ ...inputs, env: [['PATH', '/bin']], cwd: '/' }))).toBe('TOKEN unset (and 1 more)');
    expect(explainRunMiss(was, runRecipe({ ...inputs, args: ['/bin/sh', '-c', 'make all'] }))).toBe('the command changed');
    expect(explainRunMiss(was, runRecipe({ ...inputs, epoch: 0 }))).toBe('SOURCE_DATE_EPOCH changed');
    expect(explainRunMiss(was, runRecipe({ ...inputs, parent: sha256('q') }))).toBe('a step before it changed');
    expect(explainRunMiss(was, runRecipe({ ...inputs, parent: sha256('q') }), '[2/3] COPY src /src')).toBe('a step before it changed: [2/3] COPY src /src');
  });

  test('concurrent builds sharing one cache folder agree and leave it usable', async () => {
    const ctx = await context();
    const results = await Promise.all([run(ctx), run(ctx), run(ctx)]);
    expect(new Set(results.map((r) => r.result.manifestDigest)).size).toBe(1);
    expect((await run(ctx)).steps.every(([, cached]) => cached)).toBe(true);
  });
});
