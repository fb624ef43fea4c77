/**
 * A RUN interrupted on the overlayfs path: aborted (E_ABORTED, its container killed, nothing
 * mounted or left behind), or its build SIGKILLed (the next build that runs a RUN kills the
 * orphaned container, unmounts the overlays and removes the scratch folder).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { BUSYBOX, describeIntegration } from '../support/integration';

const cli = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const mountsUnder = async (dir: string): Promise<string[]> =>
  (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir));
const keelContainers = (pid: number): string[] =>
  spawnSync('runc', ['list', '-q'], { encoding: 'utf8' }).stdout.split('\n').filter((id) => id.startsWith(`keel-${pid}-`));

async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describeIntegration('a RUN interrupted on overlayfs', ['runc', 'busybox'], () => {
  let dir: string;
  let ctx: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-interrupt-'));
    ctx = join(dir, 'ctx');
    await mkdir(ctx);
    await copyFile(BUSYBOX, join(ctx, 'busybox'));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sleep", "60"]\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('aborted while extracting or running: E_ABORTED, nothing mounted or left', async () => {
    // an abort at any moment of the step, the layer-folder extraction included
    for (const delay of [0, 20, 60]) {
      const cacheDir = join(dir, `early-${delay}`);
      const ac = new AbortController();
      const building = build({ context: ctx, cacheDir, signal: ac.signal }).then(() => undefined, (e: unknown) => e);
      setTimeout(() => ac.abort(), delay);
      const error = await building;
      expect(isKeelError(error, 'E_ABORTED') ? 'E_ABORTED' : String(error)).toBe('E_ABORTED');
      expect(await mountsUnder(cacheDir)).toEqual([]);
    }
    expect(keelContainers(process.pid)).toEqual([]);
  }, 60_000);

  test('aborted: E_ABORTED, the container killed, nothing mounted or left', async () => {
    const cacheDir = join(dir, 'abort-cache');
    const ac = new AbortController();
    const started = Date.now();
    const building = build({ context: ctx, cacheDir, signal: ac.signal }).then(() => undefined, (e: unknown) => e);
    await until(async () => keelContainers(process.pid).length > 0, 20_000); // the RUN's container is up
    ac.abort();
    const error = await building;
    expect(isKeelError(error, 'E_ABORTED') ? 'E_ABORTED' : String(error)).toBe('E_ABORTED');
    expect(Date.now() - started).toBeLessThan(30_000); // not the whole sleep
    expect(await mountsUnder(cacheDir)).toEqual([]);
    expect(keelContainers(process.pid)).toEqual([]);
    expect(await readdir(join(cacheDir, 'run'))).toEqual([]);
  }, 60_000);

  test('SIGKILLed: the next build with a RUN clears the container, the mounts and the folder', async () => {
    const cacheDir = join(dir, 'kill-cache');
    const child = spawn(process.execPath, [cli, 'build', '--progress', 'quiet', '--cache-dir', cacheDir, ctx], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    await until(async () => keelContainers(child.pid as number).length > 0, 20_000);
    child.kill('SIGKILL');
    await exited;
    expect((await mountsUnder(cacheDir)).length).toBeGreaterThan(0); // what the killed build left

    const quick = join(dir, 'quick');
    await mkdir(quick);
    await copyFile(BUSYBOX, join(quick, 'busybox'));
    await writeFile(join(quick, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "touch", "/made"]\n');
    await build({ context: quick, cacheDir });
    expect(await mountsUnder(cacheDir)).toEqual([]);
    expect(keelContainers(child.pid as number)).toEqual([]);
    expect((await readdir(join(cacheDir, 'run'))).filter((n) => n.startsWith(`${child.pid}-`))).toEqual([]);
  }, 60_000);
});
