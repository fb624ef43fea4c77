/**
 * RUN by the extraction path (SPEC.md section 7's fallback where overlayfs does not mount; overlay.ts is the usual path): the stage's
 * tree is written out as a root filesystem, the command runs in it under runc, and a walk of the
 * result against the tree gives what changed (added, changed, deleted). Files are written with a
 * distinctive nanosecond in their mtime, so any write the command makes shows as a new mtime.
 * The stubs runc makes for its mounts (/proc, /sys, /dev, /etc/hosts, /etc/resolv.conf), when
 * they were not there before, are not changes.
 */
import { spawn } from 'node:child_process';
import { copyFile, lchown, lstat, lutimes, mkdir, readdir, readlink, rm, symlink, utimes, writeFile, chmod, chown } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { parentOf, type FsNode, type StageFs } from './stage-fs.js';

/** The fraction written into every mtime; a file the command writes gets another one. */
const MARK_NS = 123_456_789n;
/** Paths runc creates for its own mounts when the image lacks them. */
export const RUNTIME_STUBS: ReadonlySet<string> = new Set(['proc', 'sys', 'dev', 'etc/hosts', 'etc/resolv.conf']);

export class RunError extends KeelError {
  override name = 'RunError';
  constructor(
    message: string,
    readonly exitCode: number,
    readonly output: readonly string[],
  ) {
    super('E_RUN', message);
  }
}

/** Write the tree out as a root filesystem at `dir` (which must not exist). */
export async function materialize(fs: StageFs, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const root = fs.get('') as FsNode;
  await chmod(dir, root.mode);
  const dirs: Array<[string, FsNode]> = [];
  for (const path of fs.paths()) {
    const node = fs.get(path) as FsNode;
    const host = join(dir, path);
    switch (node.type) {
      case 'directory':
        await mkdir(host, { recursive: true });
        dirs.push([host, node]);
        break;
      case 'file':
        if (node.source.kind === 'bytes') await writeFile(host, node.source.data);
        else await copyFile(node.source.path, host);
        await chown(host, node.uid, node.gid);
        await chmod(host, node.mode);
        await utimes(host, mark(node.mtime), mark(node.mtime));
        break;
      case 'symlink':
        await symlink(node.target, host);
        await lchown(host, node.uid, node.gid);
        await lutimes(host, mark(node.mtime), mark(node.mtime));
        break;
    }
  }
  // folders last (deepest first), so that writing their children did not change their times
  for (const [host, node] of dirs.reverse()) {
    await chown(host, node.uid, node.gid);
    await chmod(host, node.mode);
    await utimes(host, mark(node.mtime), mark(node.mtime));
  }
}

const mark = (seconds: number): number => seconds + Number(MARK_NS) / 1e9;

export interface Change {
  readonly path: string;
  /** The new node, or undefined for a deletion. */
  readonly node?: FsNode;
}

/**
 * What the command changed in `dir`, against the tree it was made from. `mountPoints` are the
 * tree paths of RUN --mount targets: their contents belong to the mount, and the folders runc made
 * for them (when absent before, and holding nothing else) are stubs like /proc.
 */
export async function diffRootfs(fs: StageFs, dir: string, mountPoints: readonly string[] = []): Promise<Change[]> {
  const targets = new Set(mountPoints);
  const madeForMounts = new Set<string>();
  // folders runc makes for mount targets and for its stubs (/etc on a base without one)
  for (const t of [...mountPoints, ...RUNTIME_STUBS]) for (let p = t; p !== '' && fs.get(p) === undefined; p = parentOf(p)) madeForMounts.add(p);
  const changes: Change[] = [];
  const seen = new Set<string>();
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`;
      seen.add(path);
      const before = fs.get(path);
      if (before === undefined && RUNTIME_STUBS.has(path)) continue;
      if (targets.has(path) && before === undefined) continue; // a mount point runc made
      const host = join(dir, path);
      if (before === undefined && madeForMounts.has(path)) {
        const inside = await readdir(host);
        if (inside.every((n) => madeForMounts.has(`${path}/${n}`))) {
          await walk(path); // only what runc made for a mount below: not a change itself
          continue;
        }
      }
      const st = await lstat(host, { bigint: true });
      const mtime = Number(st.mtimeNs / 1_000_000_000n);
      const marked = st.mtimeNs % 1_000_000_000n === MARK_NS;
      const meta = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtime };
      let node: FsNode | undefined;
      if (st.isDirectory()) node = { type: 'directory', ...meta };
      else if (st.isSymbolicLink()) node = { type: 'symlink', ...meta, target: await readlink(host) };
      else if (st.isFile()) node = { type: 'file', ...meta, size: Number(st.size), source: { kind: 'host', path: host, fingerprint: `run:${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}:${st.size}`, scratch: true } };
      // devices, fifos, sockets made by a command are not kept yet
      if (node !== undefined) {
        const same =
          before !== undefined && before.type === node.type && before.mode === node.mode && before.uid === node.uid && before.gid === node.gid &&
          (node.type !== 'file' || (marked && before.type === 'file' && before.size === node.size && before.mtime === mtime)) &&
          (node.type !== 'symlink' || (before.type === 'symlink' && before.target === node.target));
        if (!same) changes.push({ path, node });
      }
      if (st.isDirectory() && !(before === undefined && RUNTIME_STUBS.has(path)) && !targets.has(path)) await walk(path);
    }
  };
  await walk('');
  // deletions: the first gone path of each removed subtree
  for (const path of fs.paths()) {
    if (seen.has(path)) continue;
    if (seen.has(parentOf(path)) || parentOf(path) === '') changes.push({ path });
  }
  return changes;
}

/** A RUN --mount as the runtime sees it. */
export type RuntimeMount =
  | { readonly kind: 'bind'; readonly target: string; readonly source: string; readonly readOnly: boolean }
  | { readonly kind: 'tmpfs'; readonly target: string; readonly size?: number };

export interface RunSpec {
  /** In a user namespace of keel's user (userns.ts): /sys is bound from the host, not mounted afresh. */
  readonly userNamespace?: boolean;
  readonly args: readonly string[];
  readonly mounts?: readonly RuntimeMount[];
  readonly env: ReadonlyArray<readonly [string, string]>;
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  readonly network: 'host' | 'none';
  readonly hostname: string;
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
      user: { uid: spec.uid, gid: spec.gid },
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

/**
 * runc's global flags: its state under `stateRoot` when given (in a user namespace /run/runc is
 * not keel's to write), else its default.
 */
export const runcGlobals = (stateRoot: string | undefined): string[] => (stateRoot === undefined ? [] : ['--root', stateRoot]);

/** Run under runc in `bundle` (holding rootfs/); lines of output go to `log`. */
export async function runc(bundle: string, id: string, spec: RunSpec, log: (line: string) => void, signal?: AbortSignal, stateRoot?: string): Promise<void> {
  await writeFile(join(bundle, 'config.json'), JSON.stringify(runtimeSpec(spec)));
  await writeFile(join(bundle, 'hosts'), `127.0.0.1\tlocalhost ${spec.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  const tail: string[] = [];
  if (signal?.aborted) throw new KeelError('E_ABORTED', 'build aborted');
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('runc', [...runcGlobals(stateRoot), 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    // the container may not exist yet when the abort comes: ask again until runc run returns
    let killing: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      const kill = (): void => void spawn('runc', [...runcGlobals(stateRoot), 'kill', id, 'KILL'], { stdio: 'ignore' }).on('error', () => undefined);
      kill();
      killing = setInterval(kill, 100);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const lines = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        log(line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    };
    child.stdout.on('data', lines);
    child.stderr.on('data', lines);
    child.on('error', (e) => reject(new KeelError('E_RUN_SETUP', `RUN needs runc on PATH (Debian: apt-get install runc): ${e.message}`)));
    child.on('close', (c) => {
      signal?.removeEventListener('abort', onAbort);
      if (killing !== undefined) clearInterval(killing);
      resolve(c ?? 1);
    });
  });
  await rm(join(bundle, 'config.json'), { force: true });
  if (signal?.aborted) throw new KeelError('E_ABORTED', 'build aborted');
  if (code !== 0) {
    throw new RunError(`RUN ${spec.args.join(' ')} exited with code ${code}${tail.length ? `:\n${tail.join('\n')}` : ''}`, code, tail);
  }
}
