/**
 * RUN's sandbox with the real runtime (issue 24): its own network namespace by default (the host's
 * loopback out of reach), the host's network and insecure mode only with the user's allow, moby's
 * seccomp profile, and a device cgroup that lets a RUN make a block device but never open it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError, type BuildOptions } from '../../src';
import { DEFAULT_APPLETS, busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

describeIntegration('RUN\'s sandbox', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  let server: Server;
  let port: number;
  let requests = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-sandbox-'));
    base = await busyboxArchive(dir, { applets: [...DEFAULT_APPLETS, 'wget', 'unshare', 'mknod', 'test', 'grep', 'wc'] });
    await mkdir(join(dir, 'ctx'));
    server = createServer((_req, res) => {
      requests++;
      res.end('from the host\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const once = (lines: readonly string[], extra: Partial<BuildOptions> = {}) =>
    build({ context: join(dir, 'ctx'), dockerfile: { text: ['FROM base', ...lines].join('\n') }, baseImages: { base }, cacheDir: join(dir, 'cache'), noCache: true, ...extra });
  const failure = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

  test('a server on the host\'s 127.0.0.1 is out of reach by default, reached with --allow network.host', async () => {
    requests = 0;
    // the RUN's own loopback, and slirp4netns' alias of the host's loopback (10.0.2.2), both refused
    await once([`RUN ! wget -T 3 -q -O- http://127.0.0.1:${port}/ && ! wget -T 3 -q -O- http://10.0.2.2:${port}/`]);
    expect(requests).toBe(0);
    const hostRun = [`RUN --network=host wget -q -O- http://127.0.0.1:${port}/ | grep -q 'from the host'`];
    const refused = await failure(once(hostRun));
    expect(isKeelError(refused, 'E_ENTITLEMENT')).toBe(true);
    expect((refused as Error).message).toMatch(/network\.host is not allowed.*--allow network\.host/);
    // the build's --network host needs it too, and --network none does not let a RUN take the host's
    expect(isKeelError(await failure(once([`RUN wget -q -O- http://127.0.0.1:${port}/`], { network: 'host' })), 'E_ENTITLEMENT')).toBe(true);
    expect(isKeelError(await failure(once(hostRun, { network: 'none' })), 'E_ENTITLEMENT')).toBe(true);
    expect(requests).toBe(0);
    await once(hostRun, { allow: ['network.host'] });
    expect(requests).toBe(1);
    await once([`RUN wget -q -O- http://127.0.0.1:${port}/ | grep -q 'from the host'`], { network: 'host', allow: ['network.host'] });
    expect(requests).toBe(2);
  }, 60_000);

  test('outbound through slirp4netns: a test host of the test\'s own (a network namespace on a veth pair) is reached', async () => {
    const ns = `keel-peer-${process.pid}`;
    const [hostIf, peerIf] = [`kh${process.pid % 100000}`, `kp${process.pid % 100000}`];
    const sh = (cmd: string, args: readonly string[]): void => {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    };
    const site = join(dir, 'site');
    await mkdir(site, { recursive: true });
    await writeFile(join(site, 'hello'), 'from the test host\n');
    let server: ChildProcess | undefined;
    try {
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peerIf, 'netns', ns]);
      sh('ip', ['addr', 'add', '10.213.77.1/30', 'dev', hostIf]);
      sh('ip', ['link', 'set', hostIf, 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', '10.213.77.2/30', 'dev', peerIf]);
      sh('ip', ['-n', ns, 'link', 'set', peerIf, 'up']);
      // busybox's wget (Debian 1.35) crashes with -T on a connection that succeeds: none given here
      server = spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', '10.213.77.2:8080', '-h', site], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 300));
      await once(['RUN wget -q -O /got http://10.213.77.2:8080/hello && grep -q "from the test host" /got']);
    } finally {
      server?.kill();
      spawnSync('ip', ['link', 'del', hostIf]);
      spawnSync('ip', ['netns', 'del', ns]);
    }
  }, 60_000);

  test('a syscall moby\'s profile denies fails; insecure mode, when allowed, has it', async () => {
    // unshare(CLONE_NEWUSER) needs no capability, so only seccomp stops it
    await once(['RUN unshare -U true 2>/err; grep -q "Operation not permitted" /err']);
    expect(isKeelError(await failure(once(['RUN unshare -U true'])), 'E_RUN')).toBe(true);
    const insecure = await failure(once(['RUN --security=insecure unshare -U true']));
    expect(isKeelError(insecure, 'E_ENTITLEMENT')).toBe(true);
    expect((insecure as Error).message).toMatch(/security\.insecure is not allowed.*--allow security\.insecure/);
    await once(['RUN --security=insecure unshare -U true'], { allow: ['security.insecure'] });
  }, 60_000);

  test('a block device made with mknod cannot be opened', async () => {
    // a real disk of this machine, by its numbers
    const disk = readdirSync('/sys/dev/block').find((d) => !d.startsWith('7:')) ?? '8:0';
    const [major, minor] = disk.split(':');
    await once([`RUN mknod /blk b ${major as string} ${minor as string} && ! head -c 1 /blk > /dev/null 2>/err && grep -q "Operation not permitted" /err && rm /blk`]);
  }, 60_000);

  test('a RUN that needs an allow fails the build before any step runs, naming its line', async () => {
    const events: string[] = [];
    const e = await failure(once(['RUN echo first > /first', 'RUN --network=host true'], { onProgress: (ev) => events.push(ev.type) }));
    expect(isKeelError(e, 'E_ENTITLEMENT')).toBe(true);
    expect((e as Error).message).toMatch(/network\.host is not allowed/);
    expect((e as { range?: { start: { line: number } } }).range?.start.line).toBe(3);
    expect(events.filter((t) => t === 'step-start')).toEqual([]);
  }, 60_000);

  test('RUN --device needs --allow device; then the CDI device is in the RUN (nodes, env, mounts), as BuildKit injects it', async () => {
    const e = await failure(once(['RUN --device=keel.test/dev=zero true']));
    expect(isKeelError(e, 'E_ENTITLEMENT')).toBe(true);
    expect((e as Error).message).toMatch(/device keel\.test\/dev=zero is requested by the build but not allowed/);
    const cdi = join(dir, 'cdi');
    await mkdir(join(cdi, 'shared'), { recursive: true });
    await writeFile(join(cdi, 'shared', 'note'), 'from the host\n');
    await writeFile(join(cdi, 'keel-test.json'), JSON.stringify({
      cdiVersion: '0.6.0', kind: 'keel.test/dev',
      containerEdits: { env: ['KEEL_CDI=yes'] },
      devices: [{ name: 'zero', containerEdits: { deviceNodes: [{ path: '/dev/keel-zero', hostPath: '/dev/zero' }], mounts: [{ hostPath: join(cdi, 'shared'), containerPath: '/cdi-shared', options: ['ro', 'bind'] }] } }],
    }));
    const allowed = { allow: ['device' as const], cdiSpecDirs: [cdi] };
    await once(['RUN --device=keel.test/dev=zero test "$(head -c 4 /dev/keel-zero | wc -c)" = 4 && test "$KEEL_CDI" = yes && grep -q "from the host" /cdi-shared/note'], allowed);
    // the kind alone is its first device; an optional device not registered: the RUN runs without it
    await once(['RUN --device=keel.test/dev test -c /dev/keel-zero'], allowed);
    const logs: string[] = [];
    await once(['RUN --device=keel.test/none=x ! test -e /dev/keel-zero'], { ...allowed, onProgress: (ev) => { if (ev.type === 'log') logs.push(ev.line); } });
    expect(logs).toContainEqual(expect.stringMatching(/optional device "keel.test\/none=x" is not registered/));
    expect(isKeelError(await failure(once(['RUN --device=keel.test/none=x,required true'], allowed)), 'E_BUILD_INPUT')).toBe(true);
  }, 60_000);
});
