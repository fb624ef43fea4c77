/**
 * RUN layers are reproducible by default (issue 11): every entry of a RUN layer gets the normalised
 * time (1980-01-01, or SOURCE_DATE_EPOCH's clamp), as BuildKit's rewrite-timestamp does, so the
 * same RUN writing the same bytes gives the same digest on any day and by either RUN path;
 * different bytes give another; `timestamps: 'preserve'` keeps the times the command wrote.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { flattenArchive } from '../support/image-tree';
import { describeIntegration } from '../support/integration';

const NORMALIZED = 315532800; // 1980-01-01

describeIntegration('RUN layers reproducible', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-repro-run-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx'));
    await writeFile(join(dir, 'ctx', 'a.txt'), 'a');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const dockerfile = (bytes: string): string => [
    'FROM base',
    `RUN mkdir -p /out/deep && echo ${bytes} > /out/deep/f && echo two > /out/g && ln -s g /out/link && rm /etc/group`,
    'COPY a.txt /out/',
    'RUN touch /out/g && mkdir /more',
  ].join('\n');
  const once = (text: string, extra: Partial<BuildOptions> = {}) =>
    build({ context: join(dir, 'ctx'), dockerfile: { text }, baseImages: { base }, cacheDir: join(dir, 'cache'), noCache: true, ...extra });

  test('the same RUNs built twice, a second apart, with --no-cache: one digest', async () => {
    const first = await once(dockerfile('same'));
    await new Promise((r) => setTimeout(r, 1100));
    const second = await once(dockerfile('same'));
    expect(second.manifestDigest).toBe(first.manifestDigest);
    const other = await once(dockerfile('other bytes'));
    expect(other.manifestDigest).not.toBe(first.manifestDigest);
    // "on another day": with SOURCE_DATE_EPOCH set, two builds a second apart agree too
    const sde = await once(dockerfile('same'), { sourceDateEpoch: 1_600_000_000 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await once(dockerfile('same'), { sourceDateEpoch: 1_600_000_000 })).manifestDigest).toBe(sde.manifestDigest);
  }, 60_000);

  test('every entry of a RUN layer at 1980-01-01; with SOURCE_DATE_EPOCH, at it; \'preserve\' keeps the command\'s times', async () => {
    const out = (name: string): string => join(dir, `${name}.tar`);
    await once(dockerfile('t'), { output: { type: 'oci-archive', path: out('normal') } });
    await once(dockerfile('t'), { output: { type: 'oci-archive', path: out('sde') }, sourceDateEpoch: 1_600_000_000 });
    const t0 = Math.floor(Date.now() / 1000);
    await once(dockerfile('t'), { output: { type: 'oci-archive', path: out('preserve') }, timestamps: 'preserve' });
    const runPaths = ['out', 'out/deep', 'out/deep/f', 'out/g', 'out/link', 'more'];
    const times = async (name: string) => (await flattenArchive(out(name))).mtimes;
    const normal = await times('normal');
    const sde = await times('sde');
    const preserve = await times('preserve');
    expect(runPaths.map((p) => normal[p])).toEqual(runPaths.map(() => NORMALIZED));
    expect(runPaths.map((p) => sde[p])).toEqual(runPaths.map(() => 1_600_000_000));
    for (const p of runPaths) expect([p, (preserve[p] ?? 0) >= t0 - 5]).toEqual([p, true]);
  }, 60_000);

  test('the written-out copy path gives the digest the overlayfs path gives', async () => {
    const overlay = await once(dockerfile('paths'));
    process.env.KEEL_RUN_ROOTFS = 'copy';
    try {
      const copy = await once(dockerfile('paths'));
      expect(copy.manifestDigest).toBe(overlay.manifestDigest);
    } finally {
      delete process.env.KEEL_RUN_ROOTFS;
    }
  }, 60_000);

  // issue 23: the RUN key held no time settings, so a RUN cached by a default build was reused by a
  // SOURCE_DATE_EPOCH build (1980 mtimes in a build that asked for 2020's)
  test('a RUN cached by a default build is not reused by a SOURCE_DATE_EPOCH or preserve build', async () => {
    const cached = (extra: Partial<BuildOptions>) => once(dockerfile('keyed by time'), { noCache: false, ...extra });
    const first = await cached({});
    expect(first.steps.filter((st) => /\bRUN /.test(st.name)).map((st) => st.cached)).toEqual([false, false]);
    const again = await cached({});
    expect(again.steps.filter((st) => /\bRUN /.test(st.name)).map((st) => st.cached)).toEqual([true, true]);
    const sde = await cached({ sourceDateEpoch: 1_600_000_000 });
    expect(sde.steps.filter((st) => /\bRUN /.test(st.name)).map((st) => st.cached)).toEqual([false, false]);
    const sdeFresh = await once(dockerfile('keyed by time'), { sourceDateEpoch: 1_600_000_000 });
    expect(sde.manifestDigest).toBe(sdeFresh.manifestDigest);
    expect((await cached({ sourceDateEpoch: 1_600_000_000 })).manifestDigest).toBe(sdeFresh.manifestDigest);
    const preserve = await cached({ timestamps: 'preserve' });
    expect(preserve.steps.filter((st) => /\bRUN /.test(st.name)).map((st) => st.cached)).toEqual([false, false]);
  }, 60_000);
});
