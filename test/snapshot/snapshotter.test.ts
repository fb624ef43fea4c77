/**
 * build() takes a Snapshotter (issue 23): every RUN is prepared on it, with the stage's chain as
 * its parent, runs on the root folder it gives, and its change becomes the layer; the image is the
 * default snapshotter's (overlayfs here). A snapshotter that fails fails the RUN and leaves the
 * cache as it was.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, copySnapshotter, isKeelError, KeelError, type ActiveSnapshot, type ParentChain, type Snapshotter } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

describeIntegration('a Snapshotter of the caller\'s', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-snapshotter-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx'));
    await writeFile(join(dir, 'ctx', 'a.txt'), 'a\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const text = [
    'FROM base',
    'RUN mkdir -p /out/sub && echo one > /out/sub/1 && echo gone > /gone',
    'COPY a.txt /out/',
    'RUN rm /gone && echo two >> /out/sub/1 && ls /out > /out/listing',
    '',
  ].join('\n');
  const once = (cache: string, snapshotter?: Snapshotter) =>
    build({ context: join(dir, 'ctx'), dockerfile: { text }, baseImages: { base }, cacheDir: join(dir, cache), ...(snapshotter === undefined ? {} : { snapshotter }) });

  test('every RUN is prepared on it with its stage\'s chain, and the image is the default one\'s', async () => {
    const prepared: Array<{ layers: string[]; rootfs: string; bundle: string }> = [];
    const changed: string[][] = [];
    const recording: Snapshotter = {
      kind: 'copy',
      async prepare(parent: ParentChain, bundle: string, signal?: AbortSignal): Promise<ActiveSnapshot> {
        const active = await copySnapshotter.prepare(parent, bundle, signal);
        prepared.push({ layers: parent.layers.map((l) => l.diffId), rootfs: active.rootfs, bundle });
        return {
          ...active,
          changes: async (targets, mtime) => {
            const c = await active.changes(targets, mtime);
            changed.push([...c.paths]);
            return c;
          },
        };
      },
    };
    const mine = await once('mine', recording);
    const usual = await once('usual');
    expect(mine.manifestDigest).toBe(usual.manifestDigest);
    expect(prepared).toHaveLength(2);
    // the first RUN on the base alone, the second on the base, the first RUN's layer and COPY's
    expect(prepared[0]?.layers).toEqual(mine.layers.slice(0, 1).map((l) => l.diffId));
    expect(prepared[1]?.layers).toEqual(mine.layers.slice(0, 3).map((l) => l.diffId));
    for (const p of prepared) expect(p.rootfs).toBe(join(p.bundle, 'rootfs'));
    expect(changed[0]).toEqual(['gone', 'out', 'out/sub', 'out/sub/1']);
    expect(changed[1]).toEqual(['gone', 'out/listing', 'out/sub/1']);
  }, 120_000);

  test('a snapshotter that fails fails the RUN, and the cache gives the usual image after', async () => {
    const failing: Snapshotter = {
      kind: 'overlay',
      prepare: () => Promise.reject(new KeelError('E_RUN_SETUP', 'no snapshots today')),
    };
    const err: unknown = await once('failed', failing).then(() => undefined, (e: unknown) => e);
    expect(isKeelError(err) && err.code === 'E_RUN_SETUP' && err.message.includes('no snapshots today')).toBe(true);
    const after = await once('failed');
    const usual = await once('usual-2');
    expect(after.manifestDigest).toBe(usual.manifestDigest);
    expect(after.steps.filter((s) => s.name.includes('RUN')).map((s) => s.cached)).toEqual([false, false]);
  }, 120_000);
});
