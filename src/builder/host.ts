/**
 * What build() reads of the process and the machine, read once at its start and passed down, so
 * that no module below reads process.env or asks for the uid on its own (tests pass their own).
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { detectSandbox, RUNTIME_NAMES, type RuntimeName, type Sandbox } from '../runtime/index.js';

export interface Host {
  readonly env: NodeJS.ProcessEnv;
  /** The uid in this process's user namespace (0: may mount and start containers). */
  readonly uid: number | undefined;
  readonly pid: number;
  /** Node's name for this machine's architecture (`x64`, `arm64`). */
  readonly arch: string;
  readonly sandbox: Sandbox;
  /** Where the kernel's binfmt_misc registrations are (emulators for other architectures' RUNs). */
  readonly binfmtDir: string;
}

export function readHost(): Host {
  return { env: process.env, uid: process.getuid?.(), pid: process.pid, arch: process.arch, sandbox: detectSandbox(), binfmtDir: '/proc/sys/fs/binfmt_misc' };
}

/** The runtime asked for, else the first of runc, crun on PATH (runc when neither is: its absence is then RUN's error). */
export function chooseRuntime(asked: RuntimeName | undefined, env: NodeJS.ProcessEnv): RuntimeName {
  if (asked !== undefined) return asked;
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  return RUNTIME_NAMES.find((name) => dirs.some((d) => existsSync(join(d, name)))) ?? 'runc';
}
