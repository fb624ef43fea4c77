/** A build killed at any moment leaves no blob under its final name that does not match it. */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../src';

const cli = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

test('SIGKILL during a build, then every stored blob still matches its digest, and the next build works', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keel-kill-'));
  try {
    const ctx = join(dir, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY small /s\nCOPY big /b\n');
    await writeFile(join(ctx, 'small'), 'small');
    await writeFile(join(ctx, 'big'), randomBytes(48 << 20));
    const cache = join(dir, 'cache');
    for (const delay of [150, 400, 800]) {
      const child = spawn(process.execPath, [cli, 'build', '--progress', 'quiet', '--cache-dir', cache, '-o', join(dir, 'out.tar'), ctx], { stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL'); // may already have finished: that is fine too
      await exited;
      const blobs = join(cache, 'blobs', 'sha256');
      for (const name of await readdir(blobs).catch(() => [] as string[])) {
        if (name.startsWith('.')) continue; // an ingest temp file: never under a final name
        expect(createHash('sha256').update(await readFile(join(blobs, name))).digest('hex')).toBe(name);
      }
    }
    const r = await build({ context: ctx, cacheDir: cache, output: { type: 'oci-archive', path: join(dir, 'out.tar') } });
    expect(r.layers).toHaveLength(2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
