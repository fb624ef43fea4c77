/**
 * Rootless RUN (userns.ts): the CLI run by an unprivileged user inside `unshare --user
 * --map-root-user --map-auto --mount` builds the same layers as root does, owners from the mapped
 * subuid range included; without the user namespace it stops with E_RUN_SETUP and says how.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenArchive } from '../support/image-tree';
import { BUSYBOX, describeIntegration, run } from '../support/integration';

const USER = 'keel-rootless';
const PACKAGE = join(__dirname, '..', '..');

describeIntegration('rootless RUN in a user namespace', ['runc', 'busybox', 'userns'], () => {
  let dir: string;
  let ctx: string;
  /** keel as the test user reaches it: the checkout bound onto a folder anyone can enter (a clone may sit in /root, mode 0700). */
  let cli: string;
  let bound: string;
  beforeAll(async () => {
    if (run('id', ['-u', USER], { check: false }).status !== 0) run('useradd', ['-m', USER]);
    // subordinate ids for the user's namespace (useradd adds them where login.defs says so)
    for (const file of ['/etc/subuid', '/etc/subgid']) {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (!text.split('\n').some((l) => l.startsWith(`${USER}:`))) await writeFile(file, `${text}${USER}:300000:65536\n`);
    }
    dir = await mkdtemp(join(tmpdir(), 'keel-rootless-'));
    ctx = join(dir, 'ctx');
    await mkdir(join(ctx, 'old', 'inner'), { recursive: true });
    await writeFile(join(ctx, 'old', 'inner', 'x'), 'x');
    await copyFile(BUSYBOX, join(ctx, 'busybox'));
    const sh = (script: string): string => JSON.stringify(['/bin/busybox', 'sh', '-c', script]);
    await writeFile(join(ctx, 'Dockerfile'), [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'COPY old /old',
      `RUN ${sh('B=/bin/busybox; $B mkdir /d && echo x > /d/f && echo g > /d/g && $B chown 33:44 /d/g && $B chmod 4750 /d/g && $B rm -r /old && $B mkdir -p /old/new && echo n > /old/new/y && $B id -u > /uid')}`,
      'RUN ["/bin/busybox", "rm", "/d/f"]',
    ].join('\n'));
    run('chown', ['-R', `${USER}:`, dir]);
    bound = await mkdtemp(join(tmpdir(), 'keel-rootless-package-'));
    run('chmod', ['755', bound]);
    run('mount', ['--bind', PACKAGE, bound]);
    cli = join(bound, 'dist', 'cli', 'main.js');
  });
  afterAll(async () => {
    run('umount', [bound], { check: false });
    await rm(bound, { recursive: true, force: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  test('the same layers as root, owners kept; no mounts left', async () => {
    const asUser = run('runuser', ['-u', USER, '--', 'unshare', '--user', '--map-root-user', '--map-auto', '--mount',
      process.execPath, cli, 'build', '--progress', 'quiet', '--cache-dir', join(dir, 'user-cache'), '-o', join(dir, 'user.tar'), ctx], { check: false });
    expect([asUser.status, asUser.stderr]).toEqual([0, expect.stringMatching(/written to/)]);
    run(process.execPath, [cli, 'build', '--progress', 'quiet', '--cache-dir', join(dir, 'root-cache'), '-o', join(dir, 'root.tar'), ctx]);
    const [ours, root] = await Promise.all([flattenArchive(join(dir, 'user.tar')), flattenArchive(join(dir, 'root.tar'))]);
    expect(ours.tree['d/g']).toMatchObject({ uid: 33, gid: 44, mode: 0o4750 });
    expect(ours.tree['d/f']).toBeUndefined();
    expect(ours.tree['old/inner']).toBeUndefined();
    expect(ours.tree.uid?.size).toBe(2); // "0\n": root inside
    expect(ours.tree.etc).toBeUndefined();
    expect(ours.tree).toEqual(root.tree);
    expect((await readFile('/proc/self/mounts', 'utf8')).includes(dir)).toBe(false);
    // it ran on overlayfs (layer folders with user.overlay.* attributes), not the copy path
    expect((await readdir(join(dir, 'user-cache', 'layers-userns'))).length).toBeGreaterThan(0);
  }, 120_000);

  // issue 24: the sandbox's network is the same rootless: a namespace of its own, slirp4netns outside
  test('rootless RUN has its own network (loopback and slirp4netns\' tap0); --network none loopback only', async () => {
    const nctx = join(dir, 'net-ctx');
    await mkdir(nctx, { recursive: true });
    await copyFile(BUSYBOX, join(nctx, 'busybox'));
    await writeFile(join(nctx, 'Dockerfile'), [
      'FROM scratch', 'COPY busybox /bin/busybox',
      'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox cat /proc/net/dev > /default"]',
      'RUN --network=none ["/bin/busybox", "sh", "-c", "/bin/busybox cat /proc/net/dev > /none"]',
    ].join('\n'));
    run('chown', ['-R', `${USER}:`, nctx]);
    const out = join(dir, 'net-out');
    const r = run('runuser', ['-u', USER, '--', 'unshare', '--user', '--map-root-user', '--map-auto', '--mount',
      process.execPath, cli, 'build', '--progress', 'quiet', '--cache-dir', join(dir, 'user-cache'), '-o', `type=local,dest=${out}`, nctx], { check: false });
    expect([r.status, r.stderr]).toEqual([0, expect.stringMatching(/root file system written to/)]);
    const names = async (f: string): Promise<string[]> => (await readFile(join(out, f), 'utf8')).split('\n').slice(2).filter((l) => l.trim() !== '').map((l) => l.trim().split(':')[0] as string).sort();
    expect(await names('default')).toEqual(['lo', 'tap0']);
    expect(await names('none')).toEqual(['lo']);
  }, 120_000);

  test('without a user namespace: E_RUN_SETUP, saying how to run rootless', () => {
    const plain = run('runuser', ['-u', USER, '--', process.execPath, cli, 'build', '--progress', 'plain', '--cache-dir', join(dir, 'plain-cache'), ctx], { check: false });
    expect(plain.status).toBe(1);
    expect(plain.stderr).toMatch(/RUN needs root, or a user namespace of your own: run `unshare --user --map-root-user --map-auto --mount keel build/);
  });
});
