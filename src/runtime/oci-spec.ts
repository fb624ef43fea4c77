/**
 * The OCI runtime spec (config.json) of one RUN, runtime-neutral, shaped as BuildKit's default
 * sandbox (executor/oci/spec.go and spec_linux.go over containerd's pkg/oci default spec): moby's
 * 14 capabilities, moby's default seccomp profile (seccomp.ts), a device cgroup that denies every
 * device but the standard ones (written out, so that no runtime's defaults decide: crun applies
 * none of its own), containerd's masked and read-only paths, a read-only /sys/fs/cgroup, a cgroup
 * namespace where cgroup v2 allows one, and a network namespace unless the RUN has the host's.
 * `security: 'insecure'` (RUN --security=insecure, allowed by the security.insecure entitlement) is
 * BuildKit's security.WithInsecureSpec: every capability, no seccomp, no masked paths, every device.
 */
import type { CdiEdits } from './cdi.js';
import { defaultSeccomp } from './seccomp.js';

/** Paths runc creates for its own mounts when the image lacks them. */
export const RUNTIME_STUBS: ReadonlySet<string> = new Set(['proc', 'sys', 'dev', 'etc/hosts', 'etc/resolv.conf']);

/** A RUN --mount as the runtime sees it. */
export type RuntimeMount =
  | { readonly kind: 'bind'; readonly target: string; readonly source: string; readonly readOnly: boolean }
  | { readonly kind: 'tmpfs'; readonly target: string; readonly size?: number };

export interface RunSpec {
  /** In a user namespace of keel's user (sandbox.ts): /sys is bound from the host, not mounted afresh. */
  readonly userNamespace?: boolean;
  readonly args: readonly string[];
  readonly mounts?: readonly RuntimeMount[];
  readonly env: ReadonlyArray<readonly [string, string]>;
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  /** The supplementary groups, the primary gid first (BuildKit's ensureAdditionalGids). @default [gid] */
  readonly additionalGids?: readonly number[];
  /** 'sandbox': a network namespace of its own, set up by the runtime (network.ts); 'none': one with loopback only. */
  readonly network: 'sandbox' | 'host' | 'none';
  /** @default 'sandbox' */
  readonly security?: 'sandbox' | 'insecure';
  /** CDI devices' edits (RUN --device, allowed by the device entitlement: cdi.ts). */
  readonly devices?: CdiEdits;
  readonly hostname: string;
  /** Lines for /etc/hosts after localhost's (`--add-host`). */
  readonly extraHosts?: ReadonlyArray<{ readonly host: string; readonly ip: string }>;
}

/** Docker's default capabilities (moby oci/caps/defaults.go), which BuildKit's RUN has too. */
const CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability Linux has, in the order of their numbers (capability.h, 0-40): for insecure mode. */
const ALL_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** containerd's masked paths (pkg/oci/spec.go defaultUnixMaskedPaths). */
export const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
/** containerd's read-only paths. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const dev = (type: 'c' | 'b' | 'a', major: number | undefined, minor: number | undefined, access: string): object => ({
  allow: true, type, ...(major === undefined ? {} : { major }), ...(minor === undefined ? {} : { minor }), access,
});
/**
 * The device cgroup: containerd's deny-all, then what runc allows every container
 * (libcontainer/specconv AllowedDevices): mknod of any device (opening it stays denied), the
 * standard character devices, ptys and tun.
 */
const DEVICE_RULES = [
  { allow: false, access: 'rwm' },
  dev('c', undefined, undefined, 'm'), dev('b', undefined, undefined, 'm'),
  dev('c', 1, 3, 'rwm'), dev('c', 1, 8, 'rwm'), dev('c', 1, 7, 'rwm'), dev('c', 5, 0, 'rwm'), dev('c', 1, 5, 'rwm'),
  dev('c', 1, 9, 'rwm'), dev('c', 136, undefined, 'rwm'), dev('c', 5, 2, 'rwm'), dev('c', 10, 200, 'rwm'),
];

/** The devices insecure mode adds outside a user namespace (BuildKit security_linux.go). */
const INSECURE_DEVICES = [
  { path: '/dev/kmsg', type: 'c', major: 1, minor: 11 }, { path: '/dev/cuse', type: 'c', major: 10, minor: 203 },
  { path: '/dev/fuse', type: 'c', major: 10, minor: 229 }, { path: '/dev/kvm', type: 'c', major: 10, minor: 232 },
  { path: '/dev/net/tun', type: 'c', major: 10, minor: 200 }, { path: '/dev/loop-control', type: 'c', major: 10, minor: 237 },
  ...Array.from({ length: 8 }, (_, i) => ({ path: `/dev/loop${i}`, type: 'b', major: 7, minor: i })),
];

/** What of the host the spec depends on (read once per build: host.ts). */
export interface SpecHost {
  readonly arch: NodeJS.Architecture;
  /** The kernel release (`uname -r`). */
  readonly kernel: string;
  /** cgroup v2 is mounted at /sys/fs/cgroup (BuildKit's cgroupV2NamespaceSupported). */
  readonly cgroupV2: boolean;
  /** This process's bounding set (`CapBnd` of /proc/self/status): what insecure mode can grant. @default every capability */
  readonly boundingCaps?: bigint;
}

/** The capabilities of ALL_CAPS in a `CapBnd` mask (BuildKit's getAllCaps: the ones this process has). */
export function capsIn(mask: bigint): string[] {
  return ALL_CAPS.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** Where the runtime put a 'sandbox' RUN's network (network.ts). */
export interface SpecNetwork {
  /** The network namespace to join (`/proc/PID/ns/net`). */
  readonly namespace?: string;
  /** The resolv.conf to bind, when not the host's. */
  readonly resolvConf?: string;
}

/** An OCI runtime spec (config.json) for one RUN. */
export function runtimeSpec(spec: RunSpec, host: SpecHost, net: SpecNetwork = {}): unknown {
  const insecure = spec.security === 'insecure';
  const caps = insecure ? (host.boundingCaps === undefined ? ALL_CAPS : capsIn(host.boundingCaps)) : CAPS;
  const namespaces = [
    { type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' },
    ...(spec.network === 'host' ? [] : [{ type: 'network', ...(net.namespace === undefined ? {} : { path: net.namespace }) }]),
    ...(host.cgroupV2 ? [{ type: 'cgroup' }] : []),
  ];
  // a fresh sysfs or cgroupfs needs a network namespace of one's own in a user namespace: bound from the host there
  const sysRo = insecure ? [] : ['ro'];
  const sys = spec.userNamespace === true && spec.network === 'host'
    ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
    : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...sysRo] };
  const cgroup = spec.userNamespace === true && !host.cgroupV2
    ? [] // cgroup v1 in a user namespace: no hierarchy of keel's to show
    : [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', ...sysRo] }];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: spec.uid, gid: spec.gid, additionalGids: spec.additionalGids ?? [spec.gid] },
      args: spec.args,
      env: [...spec.env.map(([k, v]) => `${k}=${v}`), ...(spec.devices?.env ?? [])],
      cwd: spec.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, ...(insecure ? { inheritable: caps, ambient: caps } : {}) },
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: spec.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      sys,
      ...cgroup,
      { destination: '/etc/resolv.conf', type: 'bind', source: net.resolvConf ?? '/etc/resolv.conf', options: ['nosuid', 'noexec', 'nodev', 'rbind', 'ro'] },
      { destination: '/etc/hosts', type: 'bind', source: 'hosts', options: ['nosuid', 'noexec', 'nodev', 'rbind', 'ro'] },
      ...(spec.mounts ?? []).map((m) =>
        m.kind === 'bind'
          ? { destination: m.target, type: 'bind', source: m.source, options: ['rbind', m.readOnly ? 'ro' : 'rw'] }
          : { destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.size === undefined ? [] : [`size=${m.size}`])] },
      ),
      ...(spec.devices?.mounts ?? []).map((m) => ({ destination: m.containerPath, type: 'bind', source: m.hostPath, options: m.options.length === 0 ? ['rbind', 'ro'] : [...m.options] })),
    ],
    linux: {
      namespaces,
      maskedPaths: insecure ? [] : MASKED_PATHS,
      readonlyPaths: insecure ? [] : READONLY_PATHS,
      resources: {
        devices: insecure ? [dev('c', undefined, undefined, 'rwm'), dev('b', undefined, undefined, 'rwm')]
          : [...DEVICE_RULES, ...(spec.devices?.deviceNodes ?? []).map((d) => dev(d.type, d.major, d.minor, d.permissions))],
      },
      ...(insecure ? {} : { seccomp: defaultSeccomp(caps, host) }),
      ...(() => {
        const nodes = [
          ...(insecure && spec.userNamespace !== true ? INSECURE_DEVICES : []),
          ...(spec.devices?.deviceNodes ?? []).map((d) => ({
            path: d.path, type: d.type, major: d.major, minor: d.minor,
            ...(d.fileMode === undefined ? {} : { fileMode: d.fileMode }), ...(d.uid === undefined ? {} : { uid: d.uid }), ...(d.gid === undefined ? {} : { gid: d.gid }),
          })),
        ];
        return nodes.length === 0 ? {} : { devices: nodes };
      })(),
    },
  };
}
