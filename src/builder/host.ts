/**
 * What build() reads of the process and the machine, read once at its start and passed down, so
 * that no module below reads process.env or asks for the uid on its own (tests pass their own).
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { delimiter, join } from 'node:path';
import { detectSandbox, RUNTIME_NAMES, type RuntimeName, type Sandbox } from '../runtime/index.js';

export interface Host {
  readonly env: NodeJS.ProcessEnv;
  /** The uid in this process's user namespace (0: may mount and start containers). */
  readonly uid: number | undefined;
  /** The gid in this process's user namespace (who a `type=local` output's files belong to). */
  readonly gid: number | undefined;
  readonly pid: number;
  /** Node's name for this machine's architecture (`x64`, `arm64`). */
  readonly arch: NodeJS.Architecture;
  readonly sandbox: Sandbox;
  /** Where the kernel's binfmt_misc registrations are (emulators for other architectures' RUNs). */
  readonly binfmtDir: string;
  /** The kernel release (the seccomp profile's minKernel rules). */
  readonly kernel: string;
  /** cgroup v2 at /sys/fs/cgroup (then RUN gets a cgroup namespace, as BuildKit's cgroupV2NamespaceSupported). */
  readonly cgroupV2: boolean;
  /** This process's bounding capabilities (CapBnd), what RUN --security=insecure can be given. */
  readonly boundingCaps: bigint | undefined;
}

export function readHost(): Host {
  return {
    env: process.env, uid: process.getuid?.(), gid: process.getgid?.(), pid: process.pid, arch: process.arch, sandbox: detectSandbox(), binfmtDir: '/proc/sys/fs/binfmt_misc',
    kernel: release(), boundingCaps: boundingCaps(), cgroupV2: existsSync('/proc/self/ns/cgroup') && existsSync('/sys/fs/cgroup/cgroup.subtree_control'),
  };
}

function boundingCaps(): bigint | undefined {
  try {
    const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return hex === undefined ? undefined : BigInt(`0x${hex}`);
  } catch {
    return undefined;
  }
}

/** The runtime asked for, else the first of runc, crun on PATH (runc when neither is: its absence is then RUN's error). */
export function chooseRuntime(asked: RuntimeName | undefined, env: NodeJS.ProcessEnv): RuntimeName {
  if (asked !== undefined) return asked;
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  return RUNTIME_NAMES.find((name) => dirs.some((d) => existsSync(join(d, name)))) ?? 'runc';
}
