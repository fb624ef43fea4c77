/**
 * Cache mounts while stages run at the same time (issue 24): `sharing=locked` serialises the RUNs
 * on one cache, `private` gives a RUN a folder of its own while another holds the cache, `shared`
 * lets them overlap; `source=` is resolved inside the cache and bound through keel's own mount
 * point, so a link in the cache (even one swapped in while the build runs) never reaches the host.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { DEFAULT_APPLETS, busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

describeIntegration('cache mounts across stages', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  let n = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-cache-mounts-'));
    base = await busyboxArchive(dir, { applets: [...DEFAULT_APPLETS, 'cp', 'test', 'grep', 'seq'] });
    await mkdir(join(dir, 'ctx'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** Build `text` in a fresh cache; the final root file system's file `path`. */
  const fileOf = async (text: string, path: string): Promise<string> => {
    const out = join(dir, `out-${++n}`);
    await build({ context: join(dir, 'ctx'), dockerfile: { text }, baseImages: { base }, cacheDir: join(dir, `cache-${n}`), output: { type: 'rootfs-dir', path: out } });
    return readFile(join(out, path), 'utf8');
  };
  const twoStages = (sharing: string, body: (stage: string) => string, last: string): string => [
    ...['a', 'b'].flatMap((stage) => [`FROM base AS ${stage}`, `RUN --mount=type=cache,id=c,target=/c,sharing=${sharing} sh -c '${body(stage)}' && touch /${stage}`]),
    'FROM base', 'COPY --from=a /a /a', 'COPY --from=b /b /b', last,
  ].join('\n');
  const log = (stage: string): string => `echo start-${stage} >> /c/log; sleep 1; echo end-${stage} >> /c/log`;

  test('sharing=locked: one RUN at a time on the cache; shared: at once', async () => {
    const locked = (await fileOf(twoStages('locked', log, 'RUN --mount=type=cache,id=c,target=/c cp /c/log /log'), 'log')).trim().split('\n');
    expect(locked.length).toBe(4);
    expect([locked[0]?.replace('start-', ''), locked[1]?.replace('end-', '')].every((s, _i, all) => s === all[0])).toBe(true);
    expect(locked[0]?.startsWith('start-') && locked[1]?.startsWith('end-') && locked[2]?.startsWith('start-') && locked[3]?.startsWith('end-')).toBe(true);
    const shared = (await fileOf(twoStages('shared', log, 'RUN --mount=type=cache,id=c,target=/c cp /c/log /log'), 'log')).trim().split('\n');
    expect(shared.slice(0, 2).sort()).toEqual(['start-a', 'start-b']);
  }, 60_000);

  test('sharing=private: a RUN gets a folder no other RUN holds', async () => {
    const mine = (stage: string): string => `echo ${stage} > /c/who; sleep 1; cat /c/who > /${stage}-saw`;
    const text = [
      ...['a', 'b'].flatMap((stage) => [`FROM base AS ${stage}`, `RUN --mount=type=cache,id=p,target=/c,sharing=private sh -c '${mine(stage)}'`]),
      'FROM base', 'COPY --from=a /a-saw /a-saw', 'COPY --from=b /b-saw /b-saw', 'RUN cat /a-saw /b-saw > /saw',
    ].join('\n');
    expect(await fileOf(text, 'saw')).toBe('a\nb\n');
    // the same with shared: the second writer wins in both
    const sharedText = text.replaceAll('sharing=private', 'sharing=shared');
    const saw = (await fileOf(sharedText, 'saw')).split('\n');
    expect(saw[0]).toBe(saw[1]);
  }, 60_000);

  test('source= through a link in the cache stays in the cache, even while another stage swaps it', async () => {
    const marker = `keel-host-marker-${process.pid}`;
    await mkdir(join(tmpdir(), marker), { recursive: true });
    try {
      // a link to / inside the cache is the cache's root, never the host's
      const text = [
        'FROM base AS fill',
        'RUN --mount=type=cache,id=s,target=/c mkdir -p /c/real && echo inside > /c/real/f && ln -sfn / /c/escape && touch /filled',
        'FROM base',
        'COPY --from=fill /filled /filled',
        'RUN --mount=type=cache,id=s,source=escape,target=/x ls /x > /listing',
      ].join('\n');
      expect((await fileOf(text, 'listing')).split('\n').filter((l) => l !== '').sort()).toEqual(['escape', 'real']);
      // a stage swapping /c/d between a folder and a link to the host's /tmp, beside RUNs binding source=d
      const swapper = `i=0; while [ $i -lt 400 ]; do rm -rf /c/d; mkdir /c/d; rm -rf /c/d; ln -s ${tmpdir()} /c/d; i=$((i+1)); done; touch /swapped`;
      const binds = Array.from({ length: 8 }, (_, i) => `RUN --mount=type=cache,id=r,source=d,target=/x ! test -e /x/${marker} && echo ok${i} >> /ok`);
      const race = [
        'FROM base AS prep', 'RUN --mount=type=cache,id=r,target=/c mkdir -p /c/d && touch /prepped',
        'FROM base AS swap', 'COPY --from=prep /prepped /prepped', `RUN --mount=type=cache,id=r,target=/c sh -c '${swapper}'`,
        'FROM base AS bind', 'COPY --from=prep /prepped /prepped', ...binds,
        'FROM base', 'COPY --from=swap /swapped /swapped', 'COPY --from=bind /ok /ok',
      ].join('\n');
      // a RUN may find d a link or gone at its moment (its bind then fails, as BuildKit's would, a setup
      // error): never the host's folder, where `! test -e` fails and the RUN exits 1 (E_RUN)
      const got = await fileOf(race, 'ok').catch((e: unknown) => e);
      if (typeof got === 'string') expect(got.trim().split('\n')).toHaveLength(8);
      else expect([isKeelError(got), isKeelError(got, 'E_RUN'), (got as Error).message]).toEqual([true, false, expect.any(String)]);
    } finally {
      await rm(join(tmpdir(), marker), { recursive: true, force: true });
    }
  }, 120_000);
});
