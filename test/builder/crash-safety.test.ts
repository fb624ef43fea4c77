/**
 * Crash safety (issue 10): `keel build` killed with SIGKILL at random moments, 50 times, on one
 * cache folder, half a COPY-heavy build and half one with RUN steps. After each kill: every blob
 * under its name is that blob, no step record points at a blob that is not there; once the next
 * build has run, no container or mount of the killed one is left; and that build succeeds with the
 * image a build in an untouched cache makes, digest for digest.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxArchive } from '../support/busybox-base';
import { cacheProblems } from '../support/cache-check';
import { describeIntegration } from '../support/integration';

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

/** `keel build` as a user runs it; resolves with its exit code (null when killed) and pid. */
function keel(args: readonly string[], killAfterMs?: number): Promise<{ code: number | null; pid: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'build', '--progress', 'plain', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ code, pid: child.pid as number, stderr });
    });
  });
}

describeIntegration('builds killed at random moments', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  const refs: Record<'copy' | 'run', string> = { copy: '', run: '' };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-crash-'));
    base = await busyboxArchive(dir);
    const ctx = join(dir, 'ctx');
    for (let d = 0; d < 20; d++) {
      await mkdir(join(ctx, 'src', `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) await writeFile(join(ctx, 'src', `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(20));
    }
    await writeFile(join(ctx, 'big.bin'), Buffer.alloc(8 << 20, 7));
    await writeFile(join(dir, 'copy.Dockerfile'), 'FROM base\nCOPY src /app/src\nCOPY big.bin /app/\nWORKDIR /app/work\nCOPY src/d1 /again/\n');
    await writeFile(join(dir, 'run.Dockerfile'), 'FROM base\nCOPY src/d0 /app/\nRUN mkdir /out && i=0 && while [ $i -lt 300 ]; do i=$((i+1)); echo $i > /out/$i; done\nRUN sleep 0.3 && rm /out/1 && echo done > /done\nCOPY src/d2 /later/\n');
    for (const kind of ['copy', 'run'] as const) {
      const out = join(dir, `ref-${kind}.tar`);
      const r = await keel(['--base-image', `base=${base}`, '--cache-dir', join(dir, `ref-cache-${kind}`), '-f', join(dir, `${kind}.Dockerfile`), '-o', out, '--iidfile', join(dir, `ref-${kind}.iid`), ctx]);
      expect([kind, r.code, r.stderr.slice(-300)]).toEqual([kind, 0, expect.any(String)]);
      refs[kind] = await readFile(join(dir, `ref-${kind}.iid`), 'utf8');
    }
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('50 kills: the cache stays valid, nothing is left behind, the next build gives the same image', async () => {
    const cacheDir = join(dir, 'cache');
    let killed = 0;
    for (let i = 0; i < 50; i++) {
      const kind = i % 2 === 0 ? 'copy' : 'run';
      const args = ['--base-image', `base=${base}`, '--cache-dir', cacheDir, '-f', join(dir, `${kind}.Dockerfile`), join(dir, 'ctx')];
      // a random moment of a build that does all its work (--no-cache), so that kills land in every step
      const victim = await keel(['--no-cache', ...args], 30 + Math.floor(Math.random() * 600));
      if (victim.code === null) killed++;
      expect([i, await cacheProblems(cacheDir)]).toEqual([i, []]);
      const out = join(dir, `next-${i}.tar`);
      const next = await keel([...args, '-o', out, '--iidfile', join(dir, 'next.iid')]);
      expect([i, next.code, next.code === 0 ? '' : next.stderr]).toEqual([i, 0, '']);
      expect([i, kind, await readFile(join(dir, 'next.iid'), 'utf8')]).toEqual([i, kind, refs[kind]]);
      await rm(out);
      // the next build reaped what the killed one left: its containers and its mounts
      const containers = spawnSync('runc', ['list', '-q'], { encoding: 'utf8' }).stdout.split('\n').filter((id) => id.startsWith(`keel-${victim.pid}-`));
      expect([i, containers]).toEqual([i, []]);
      expect([i, (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter((m) => m.includes(cacheDir))]).toEqual([i, []]);
    }
    expect(killed).toBeGreaterThan(25); // most were killed mid-build, not after it had finished
  }, 20 * 60_000);
});
