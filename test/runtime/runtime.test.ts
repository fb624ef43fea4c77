/**
 * The runtime seam: the OCI spec a RUN gets (BuildKit's shape), the choice of runtime, and each
 * runtime behind the same interface: runc, and crun where the kernel lets it start containers.
 * Where it does not (Debian's crun 1.8 on a cgroup v1/v2 hybrid host refuses every container),
 * the build must fail at once with E_RUN_SETUP in crun's own words, never hang or blame the command.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { chooseRuntime } from '../../src/builder/host';
import { syncFileSystem } from '../../src/runtime/commands';
import { runtimeSpec } from '../../src/runtime/oci-spec';
import { busyboxArchive } from '../support/busybox-base';
import { flattenArchive } from '../support/image-tree';
import { describeIntegration, run } from '../support/integration';

interface SpecShape {
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } };
  hostname: string;
  mounts: Array<{ destination: string; type: string; source: string; options: string[] }>;
  linux: {
    namespaces: Array<{ type: string; path?: string }>;
    maskedPaths: string[];
    readonlyPaths: string[];
    resources: { devices: Array<{ allow: boolean; type?: string; major?: number; minor?: number; access: string }> };
    seccomp?: { defaultAction: string; architectures: string[]; syscalls: Array<{ names: string[]; action: string; errnoRet?: number; args?: unknown[] }> };
    devices?: Array<{ path: string }>;
  };
}

const HOST = { arch: 'x64', kernel: '6.1.0-18-amd64', cgroupV2: false } as const;
const spec = (over: Partial<Parameters<typeof runtimeSpec>[0]> = {}, host: Parameters<typeof runtimeSpec>[1] = HOST, net: Parameters<typeof runtimeSpec>[2] = {}): SpecShape =>
  runtimeSpec({ args: ['/bin/sh', '-c', 'true'], env: [['PATH', '/bin']], cwd: '/w', uid: 5, gid: 6, network: 'host', hostname: 'buildkitsandbox', ...over }, host, net) as SpecShape;
const allowed = (s: SpecShape): Set<string> => new Set((s.linux.seccomp?.syscalls ?? []).filter((c) => c.action === 'SCMP_ACT_ALLOW' && c.args === undefined).flatMap((c) => c.names));

describe('the OCI spec of a RUN', () => {
  test('process, user and hostname as given', () => {
    const s = spec();
    expect(s.process).toMatchObject({ args: ['/bin/sh', '-c', 'true'], env: ['PATH=/bin'], cwd: '/w', user: { uid: 5, gid: 6 } });
    expect(s.hostname).toBe('buildkitsandbox');
  });
  test('network none and sandbox have a network namespace (sandbox the one made for it); host shares the host\'s', () => {
    expect(spec().linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount']);
    expect(spec({ network: 'none' }).linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'network']);
    const sandbox = spec({ network: 'sandbox' }, HOST, { namespace: '/proc/7/ns/net', resolvConf: '/b/resolv.conf' });
    expect(sandbox.linux.namespaces).toContainEqual({ type: 'network', path: '/proc/7/ns/net' });
    expect(sandbox.mounts.find((m) => m.destination === '/etc/resolv.conf')?.source).toBe('/b/resolv.conf');
  });
  test('a cgroup namespace with cgroup v2 only; /sys/fs/cgroup read-only', () => {
    expect(spec().linux.namespaces.map((n) => n.type)).not.toContain('cgroup');
    expect(spec({}, { ...HOST, cgroupV2: true }).linux.namespaces.map((n) => n.type)).toContain('cgroup');
    expect(spec().mounts.find((m) => m.destination === '/sys/fs/cgroup')).toMatchObject({ type: 'cgroup', options: expect.arrayContaining(['ro']) });
  });
  test('containerd\'s masked and read-only paths; devices denied but the standard ones', () => {
    const s = spec();
    expect(s.linux.maskedPaths).toEqual(expect.arrayContaining(['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap']));
    expect(s.linux.readonlyPaths).toEqual(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
    const devices = s.linux.resources.devices;
    expect(devices[0]).toEqual({ allow: false, access: 'rwm' });
    expect(devices.filter((d) => d.allow && d.type === 'b').map((d) => d.access)).toEqual(['m']); // mknod, never open
    expect(devices).toContainEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }); // /dev/null
  });
  test('moby\'s default seccomp profile, filtered by the capabilities granted and the host', () => {
    const s = spec();
    expect(s.linux.seccomp).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] });
    const names = allowed(s);
    for (const ok of ['read', 'write', 'execve', 'openat', 'chroot', 'arch_prctl', 'ptrace']) expect([ok, names.has(ok)]).toEqual([ok, true]);
    // CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_BPF... are not granted: their syscalls are not allowed
    for (const no of ['unshare', 'mount', 'bpf', 'keyctl', 'init_module', 'perf_event_open', 'reboot', 'setns', 'userfaultfd']) expect([no, names.has(no)]).toEqual([no, false]);
    // clone without namespace flags; clone3 fails with ENOSYS so that libc falls back to clone
    expect(s.linux.seccomp?.syscalls).toContainEqual({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    expect(s.linux.seccomp?.syscalls).toContainEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    // ptrace needs kernel 4.8; arm64 hosts get their own architectures and calls
    expect(allowed(spec({}, { ...HOST, kernel: '4.4.0' })).has('ptrace')).toBe(false);
    const arm = spec({}, { ...HOST, arch: 'arm64' });
    expect(arm.linux.seccomp?.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect([allowed(arm).has('arch_prctl'), allowed(arm).has('set_tls')]).toEqual([false, true]);
  });
  test('insecure: every capability, no seccomp, no masked paths, every device', () => {
    const s = spec({ security: 'insecure' });
    expect(s.linux.seccomp).toBeUndefined();
    expect([s.linux.maskedPaths, s.linux.readonlyPaths]).toEqual([[], []]);
    expect(s.linux.resources.devices).toEqual([{ allow: true, type: 'c', access: 'rwm' }, { allow: true, type: 'b', access: 'rwm' }]);
    expect((s.process as unknown as { capabilities: { bounding: string[] } }).capabilities.bounding).toEqual(expect.arrayContaining(['CAP_SYS_ADMIN', 'CAP_NET_ADMIN']));
    expect(s.linux.devices?.map((d) => d.path)).toContain('/dev/fuse');
  });
  test('/sys is a fresh sysfs as root, the host\'s bound read-only in a user namespace', () => {
    expect(spec().mounts.find((m) => m.destination === '/sys')?.type).toBe('sysfs');
    expect(spec({ userNamespace: true }).mounts.find((m) => m.destination === '/sys')).toMatchObject({ type: 'none', source: '/sys', options: expect.arrayContaining(['rbind', 'ro']) });
  });
  test('RUN --mount binds and tmpfs come after the standard mounts', () => {
    const s = spec({ mounts: [{ kind: 'bind', target: '/cache', source: '/host/c', readOnly: true }, { kind: 'tmpfs', target: '/t', size: 1024 }] });
    expect(s.mounts.slice(-2)).toEqual([
      { destination: '/cache', type: 'bind', source: '/host/c', options: ['rbind', 'ro'] },
      { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1024'] },
    ]);
  });
});

describe('flushing a layer folder before it is named', () => {
  test('a folder is flushed; a path that is not there is E_CACHE naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keel-sync-'));
    try {
      await writeFile(join(dir, 'f'), 'x');
      await expect(syncFileSystem(dir)).resolves.toBeUndefined();
      const gone = join(dir, 'gone');
      await expect(syncFileSystem(gone)).rejects.toMatchObject({ code: 'E_CACHE', message: expect.stringContaining(gone) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('choosing a runtime', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-runtime-path-'));
    for (const d of ['a', 'b']) await mkdir(join(dir, d));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  test('the one asked for; else runc, then crun, from PATH; runc when neither is there', async () => {
    expect(chooseRuntime('crun', { PATH: '' })).toBe('crun');
    expect(chooseRuntime(undefined, { PATH: `${join(dir, 'a')}:${join(dir, 'b')}` })).toBe('runc');
    await writeFile(join(dir, 'b', 'crun'), '');
    expect(chooseRuntime(undefined, { PATH: `${join(dir, 'a')}:${join(dir, 'b')}` })).toBe('crun');
    await writeFile(join(dir, 'a', 'runc'), '');
    expect(chooseRuntime(undefined, { PATH: `${join(dir, 'a')}:${join(dir, 'b')}` })).toBe('runc');
  });
});

describeIntegration('RUN under each runtime', ['busybox', 'runc', 'crun'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-runtime-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const dockerfile = 'FROM base\nRUN echo made > /made && mkdir -p /d && echo x > /d/x && rm /bin/true\n';
  const files = async (archive: string) => {
    const tree = (await flattenArchive(archive)).tree;
    return Object.fromEntries(['made', 'd', 'd/x', 'bin/true'].map((p) => {
      const e = tree[p];
      return [p, e === undefined ? 'absent' : `${e.type} ${e.mode.toString(8)} ${e.size} ${e.sha256 ?? ''}`];
    }));
  };

  test('runc and crun give the same files, or crun says at once why it cannot run here', async () => {
    const out = (name: string) => join(dir, `${name}.tar`);
    await build({ context: join(dir, 'ctx'), dockerfile: { text: dockerfile }, baseImages: { base }, cacheDir: join(dir, 'cache-runc'), runtime: 'runc', output: { type: 'oci-archive', path: out('runc') } });
    const withRunc = await files(out('runc'));
    expect(withRunc).toMatchObject({ made: expect.stringMatching(/^file /), 'd/x': expect.stringMatching(/^file /), 'bin/true': 'absent' });
    const started = Date.now();
    const crun = await build({ context: join(dir, 'ctx'), dockerfile: { text: dockerfile }, baseImages: { base }, cacheDir: join(dir, 'cache-crun'), runtime: 'crun', output: { type: 'oci-archive', path: out('crun') } })
      .then(() => undefined, (e: unknown) => e);
    if (crun === undefined) {
      expect(await files(out('crun'))).toEqual(withRunc);
    } else {
      // this kernel refuses crun: a clear setup error with crun's own words, quickly, and nothing of crun's left
      expect(isKeelError(crun, 'E_RUN_SETUP')).toBe(true);
      expect((crun as Error).message).toMatch(/crun could not start the container/);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(run('crun', ['list', '-q'], { check: false }).stdout.split('\n').filter((id) => id.startsWith(`keel-${process.pid}-`))).toEqual([]);
    }
  }, 60_000);
});
