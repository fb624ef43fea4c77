/**
 * The cache folder as a build opens it: made 0700, an open one of ours closed, another user's open
 * one refused, and every unusable folder a one-line E_CACHE (no stack trace, no spinning); a full
 * disk is E_NO_SPACE, keeps nothing half-written, and the next build with room succeeds.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { openCacheDir } from '../../src/cache/cache-dir';
import { describeIntegration, run } from '../support/integration';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-cache-dir-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const uid = process.getuid?.();

test('a missing cache folder is made, its new folders 0700', async () => {
  const c = join(dir, 'a', 'b', 'cache');
  await openCacheDir(c, uid);
  expect((await stat(c)).mode & 0o777).toBe(0o700);
  expect((await stat(join(dir, 'a'))).mode & 0o777).toBe(0o700);
});

test('a cache folder of ours that others can enter is closed to 0700', async () => {
  const c = join(dir, 'open');
  await mkdir(c);
  await chmod(c, 0o755);
  await openCacheDir(c, uid);
  expect((await stat(c)).mode & 0o777).toBe(0o700);
});

test.each([
  ['under a file', async () => { await writeFile(join(dir, 'file'), 'x'); return join(dir, 'file', 'cache'); }, /cannot be made \(ENOTDIR\)/],
  ['a file itself', async () => { await writeFile(join(dir, 'file2'), 'x'); return join(dir, 'file2'); }, /not a folder/],
  ['in /proc (Node\'s recursive mkdir loops there)', async () => '/proc/keel-cache', /cannot be made/],
])('a cache folder %s is E_CACHE', async (_name, make, message) => {
  const c = await make();
  const t0 = Date.now();
  const err = await openCacheDir(c, uid).catch((e: unknown) => e);
  expect(isKeelError(err, 'E_CACHE')).toBe(true);
  expect((err as Error).message).toMatch(message);
  expect((err as Error).message).toContain(c);
  expect(Date.now() - t0).toBeLessThan(2000);
});

describeIntegration('the cache folder and other users', ['runc'], () => {
  test('another user\'s cache folder that others can enter is refused, not changed', async () => {
    const c = join(dir, 'theirs');
    await mkdir(c);
    await chown(c, 65534, 65534);
    await chmod(c, 0o777);
    const err = await openCacheDir(c, 0).catch((e: unknown) => e);
    expect(isKeelError(err, 'E_CACHE')).toBe(true);
    expect((err as Error).message).toMatch(/it belongs to uid 65534, not to this user \(0\)/);
    expect((await stat(c)).mode & 0o777).toBe(0o777);
  });

  // issue 24: root accepted another user's 0700 folder (W_OK holds for root), and a link was followed and its target chmodded
  test('another user\'s closed folder is refused too; a link where the folder should be is refused, its target untouched', async () => {
    const c = join(dir, 'theirs-closed');
    await mkdir(c);
    await chown(c, 65534, 65534);
    await chmod(c, 0o700);
    const err = await openCacheDir(c, 0).catch((e: unknown) => e);
    expect([isKeelError(err, 'E_CACHE'), (err as Error).message]).toEqual([true, expect.stringMatching(/belongs to uid 65534/)]);
    const target = join(dir, 'link-target');
    await mkdir(target);
    await chmod(target, 0o755);
    const link = join(dir, 'planted');
    await symlink(target, link);
    const linked = await openCacheDir(link, uid).catch((e: unknown) => e);
    expect([isKeelError(linked, 'E_CACHE'), (linked as Error).message]).toEqual([true, expect.stringMatching(/is a symbolic link/)]);
    expect((await stat(target)).mode & 0o777).toBe(0o755);
  });

  test('keel build as a user who cannot write the cache folder: one line, exit 2, no stack trace', async () => {
    const pkg = await mkdtemp(join(tmpdir(), 'keel-pkg-'));
    await chmod(pkg, 0o755);
    run('mount', ['--bind', join(__dirname, '..', '..'), pkg]);
    try {
      const ctx = await mkdtemp(join(tmpdir(), 'keel-ctx-'));
      await chmod(ctx, 0o755);
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n');
      await chmod(join(ctx, 'Dockerfile'), 0o644);
      const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, join(pkg, 'dist', 'cli', 'main.js'), 'build', '--cache-dir', join(dir, 'root-only', 'cache'), ctx], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^keel: the cache folder .*root-only\/cache cannot be used: it cannot be made \(EACCES\)\n$/);
      await rm(ctx, { recursive: true, force: true });
    } finally {
      run('umount', [pkg], { check: false });
      await rm(pkg, { recursive: true, force: true });
    }
  });

  test('a full disk: E_NO_SPACE naming the folder, no blob that does not match its name, and a build once there is room', async () => {
    const c = join(dir, 'small');
    const ctx = join(dir, 'big-ctx');
    await mkdir(c);
    await mkdir(ctx);
    await writeFile(join(ctx, 'big'), randomBytes(12 << 20));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
    run('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', c]);
    try {
      const err = await build({ context: ctx, cacheDir: c, compression: 'none' }).catch((e: unknown) => e);
      expect(isKeelError(err, 'E_NO_SPACE')).toBe(true);
      expect((err as Error).message).toContain(c);
      // whatever is stored under a blob's name is that blob
      const blobs = join(c, 'blobs', 'sha256');
      for (const name of await readdir(blobs).catch(() => [] as string[])) {
        if (name.startsWith('.')) continue;
        expect(createHash('sha256').update(await readFile(join(blobs, name))).digest('hex')).toBe(name);
      }
      run('mount', ['-o', 'remount,size=64m', c]);
      const ok = await build({ context: ctx, cacheDir: c, compression: 'none' });
      expect(ok.layers).toHaveLength(1);
    } finally {
      run('umount', [c], { check: false });
    }
  }, 60_000);
});
