/**
 * The OCI runtime spec (config.json) of one RUN, runtime-neutral: namespaces, mounts and
 * capabilities shaped like BuildKit's (executor/oci/spec.go, with moby's default capabilities).
 */

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
  readonly network: 'host' | 'none';
  readonly hostname: string;
  /** Lines for /etc/hosts after localhost's (`--add-host`). */
  readonly extraHosts?: ReadonlyArray<{ readonly host: string; readonly ip: string }>;
}

/** Docker's default capabilities (moby oci/caps/defaults.go), which BuildKit's RUN has too. */
const CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** An OCI runtime spec (config.json) for one RUN. */
export function runtimeSpec(spec: RunSpec): unknown {
  const namespaces = ['pid', 'ipc', 'uts', 'mount', ...(spec.network === 'none' ? ['network'] : [])].map((type) => ({ type }));
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: spec.uid, gid: spec.gid, additionalGids: spec.additionalGids ?? [spec.gid] },
      args: spec.args,
      env: spec.env.map(([k, v]) => `${k}=${v}`),
      cwd: spec.cwd,
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
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
      spec.userNamespace === true
        ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
        : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rbind', 'ro'] },
      { destination: '/etc/hosts', type: 'bind', source: 'hosts', options: ['rbind', 'ro'] },
      ...(spec.mounts ?? []).map((m) =>
        m.kind === 'bind'
          ? { destination: m.target, type: 'bind', source: m.source, options: ['rbind', m.readOnly ? 'ro' : 'rw'] }
          : { destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.size === undefined ? [] : [`size=${m.size}`])] },
      ),
    ],
    linux: {
      namespaces,
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

