/**
 * Builds side by side on one cache folder (issue 10, issue 11): 10 `keel build` processes at once,
 * two each of five Dockerfiles (one with RUN steps), on an empty cache, eight of them pulling the
 * same base from the registry: all succeed, each gives the image it gives alone, and the cache
 * verifies afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxArchive } from '../support/busybox-base';
import { cacheProblems } from '../support/cache-check';
import { describeIntegration, REGISTRY, run } from '../support/integration';

const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

function keel(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'build', '--progress', 'plain', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describeIntegration('builds side by side on one cache', ['busybox', 'registry', 'skopeo', 'runc'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-concurrent-'));
    const archive = await busyboxArchive(dir);
    // a name no earlier run pulled: every build starts with nothing of it
    base = `${REGISTRY}/keel-test/concurrent-${process.pid}-${Date.now()}:1`;
    run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${archive}`, `docker://${base}`]);
    const ctx = join(dir, 'ctx');
    await mkdir(join(ctx, 'src'), { recursive: true });
    for (let i = 0; i < 300; i++) await writeFile(join(ctx, 'src', `f${i}.txt`), `file ${i}\n`);
    await writeFile(join(ctx, 'big.bin'), Buffer.alloc(4 << 20, 3));
    const dockerfiles = {
      a: `FROM ${base}\nCOPY src /app/src\n`,
      b: `FROM ${base}\nCOPY big.bin /data/\nENV X=1\nWORKDIR /data/w\n`,
      c: 'FROM scratch\nCOPY src /s\nCOPY big.bin /b\n',
      d: `FROM ${base} AS one\nCOPY src/f1.txt /one\nFROM ${base}\nCOPY --from=one /one /two\nCOPY src /src\n`,
      // RUN steps too: their layers are reproducible, so side by side they give the digest they give alone
      e: `FROM ${base}\nCOPY src/f2.txt /in\nRUN mkdir /out && cp /in /out/copied && echo made > /out/made\nRUN rm /out/made\n`,
    };
    for (const [name, text] of Object.entries(dockerfiles)) await writeFile(join(dir, `${name}.Dockerfile`), text);
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('10 builds at once on an empty cache: all succeed, each with the image it gives alone', async () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const alone = new Map<string, string>();
    for (const name of names) {
      const iid = join(dir, `alone-${name}.iid`);
      const r = await keel(['--cache-dir', join(dir, `alone-cache-${name}`), '-f', join(dir, `${name}.Dockerfile`), '--iidfile', iid, join(dir, 'ctx')]);
      expect([name, r.code, r.stderr.slice(-400)]).toEqual([name, 0, expect.any(String)]);
      alone.set(name, await readFile(iid, 'utf8'));
    }
    const shared = join(dir, 'shared-cache');
    const runs = [...names, ...names].map((name, i) =>
      keel(['--cache-dir', shared, '-f', join(dir, `${name}.Dockerfile`), '--iidfile', join(dir, `together-${i}.iid`), join(dir, 'ctx')]).then((r) => ({ name, i, ...r })));
    const results = await Promise.all(runs);
    expect(results.map((r) => [r.name, r.code, r.code === 0 ? '' : r.stderr])).toEqual(results.map((r) => [r.name, 0, '']));
    for (const r of results) expect([r.name, await readFile(join(dir, `together-${r.i}.iid`), 'utf8')]).toEqual([r.name, alone.get(r.name)]);
    expect(await cacheProblems(shared)).toEqual([]);
  }, 120_000);
});
