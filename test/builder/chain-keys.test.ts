/**
 * Step keys from parent keys (issue 23, cache-key.ts ChainKey): a step is found by its stage's
 * chain key and its own recipe, so a chain of hits reads no layer below it; and a COPY --from a
 * folder given as a named context is keyed by what it copies (a stage with no layers has no chain
 * to tell its folders apart: it was found again after the folder changed).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildEvent } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

describe('COPY --from a named folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-chain-keys-'));
    await mkdir(join(dir, 'ctx'));
    await mkdir(join(dir, 'extra'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('a changed file in the folder misses; the same one hits', async () => {
    const once = async (out: string) => {
      const r = await build({
        context: join(dir, 'ctx'), dockerfile: { text: 'FROM scratch\nCOPY --from=src f /f\n' }, cacheDir: join(dir, 'cache'),
        namedContexts: { src: { path: join(dir, 'extra') } }, output: { type: 'rootfs-dir', path: join(dir, out) },
      });
      return { cached: r.steps.at(-1)?.cached, body: await readFile(join(dir, out, 'f'), 'utf8') };
    };
    await writeFile(join(dir, 'extra', 'f'), 'one\n');
    expect(await once('a')).toEqual({ cached: false, body: 'one\n' });
    await writeFile(join(dir, 'extra', 'f'), 'two\n');
    expect(await once('b')).toEqual({ cached: false, body: 'two\n' });
    expect(await once('c')).toEqual({ cached: true, body: 'two\n' });
  });
});

describeIntegration('keys from parents', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-chain-keys-run-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('a step is found by its parent\'s key, not by the layers below: a RUN made again with other bytes keeps the steps after it', async () => {
    // the first RUN writes other bytes each time it runs
    const text = 'FROM base\nRUN cat /proc/sys/kernel/random/uuid > /a\nRUN echo b > /b\nWORKDIR /w\nRUN echo c > /w/c\n';
    const cacheDir = join(dir, 'cache');
    const once = () => build({ context: join(dir, 'ctx'), dockerfile: { text }, baseImages: { base }, cacheDir });
    const first = await once();
    // the first RUN's layer gone from the store: that RUN runs again (a record without its layer is a miss)
    await rm(join(cacheDir, 'blobs', 'sha256', (first.layers[1] as { digest: string }).digest.slice(7)));
    const second = await once();
    expect(second.steps.filter((s) => /RUN|WORKDIR/.test(s.name)).map((s) => s.cached)).toEqual([false, true, true, true]);
    expect(second.layers[1]?.diffId).not.toBe(first.layers[1]?.diffId);
    // the steps after it were found under their parents' keys, as BuildKit's solver finds them (a key
    // made from the layers below would have missed each of them)
    expect(second.layers.slice(2).map((l) => l.digest)).toEqual(first.layers.slice(2).map((l) => l.digest));
  }, 60_000);

  test('a RUN that misses says why: what it sees that changed (a variable by name), else the step before it that missed', async () => {
    const ctx = join(dir, 'why');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'f'), 'one\n');
    const text = 'FROM base\nCOPY f /f\nRUN cat /f > /g\nARG V=1\nRUN echo $V > /v\n';
    const cacheDir = join(dir, 'cache-why');
    const reasons = async (buildArgs: Record<string, string> = {}): Promise<string[]> => {
      const events: BuildEvent[] = [];
      await build({ context: ctx, dockerfile: { text }, baseImages: { base }, cacheDir, buildArgs, onProgress: (e) => events.push(e) });
      return events.flatMap((e) => (e.type === 'step-done' && / (COPY|RUN) /.test(e.name) ? [`${e.cached ? 'cached' : e.reason ?? ''}`] : []));
    };
    expect(await reasons()).toEqual(['not built before', 'not built before', 'not built before']);
    await writeFile(join(ctx, 'f'), 'two\n');
    expect(await reasons()).toEqual(['f changed', 'a step before it changed: [2/5] COPY f /f', 'a step before it changed: [3/5] RUN cat /f > /g']);
    expect(await reasons({ V: 'hunter2' })).toEqual(['cached', 'cached', 'V changed']);
    // the value is in no recipe (nor in any other file the step cache keeps)
    const kept = await Promise.all(['recipes', 'steps'].map(async (d) => Promise.all((await readdir(join(cacheDir, d))).map((f) => readFile(join(cacheDir, d, f), 'utf8')))));
    expect(kept.flat().some((t) => t.includes('hunter2'))).toBe(false);
  }, 60_000);
});

