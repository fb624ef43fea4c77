/**
 * A folder inside a root that others write (a cache mount's `source=`), bound onto a mount point of
 * keel's own without ever following a link: BuildKit's fix for CVE-2024-23651
 * (executor/oci/spec_linux.go `sub()`). The path is resolved inside the root, opened O_PATH, and
 * checked to be what was resolved (a RUN beside this one may have swapped a folder for a link to
 * `/` in between: then resolve again); then the open folder itself, not its name, is bound onto the
 * mount point (`mount --bind /proc/self/fd/N`, without mount(8)'s canonicalizing, which would turn
 * the fd back into a name). The runtime gets the mount point, whose path no RUN can reach.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, fstatSync, lstatSync, openSync, readlinkSync } from 'node:fs';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { cleanPath, resolveInRoot } from '../tree/index.js';

/** Linux's O_PATH (the same number on x86-64, arm64 and the other architectures Node runs on but alpha/sparc). */
const O_PATH = 0o10000000;
const O_NOFOLLOW = 0o400000;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;

/** `sub` (a path inside `root`, links resolved inside it) as it is now; E_BUILD_INPUT when it is not a folder. */
function resolveBeneath(root: string, sub: string, what: string, where: string): string {
  const inside = resolveInRoot(cleanPath(sub), true, (p) => {
    const st = lstatSync(join(root, p), { throwIfNoEntry: false });
    return st?.isSymbolicLink() === true ? readlinkSync(join(root, p)) : undefined;
  });
  if (lstatSync(join(root, inside), { throwIfNoEntry: false })?.isDirectory() !== true) {
    throw new KeelError('E_BUILD_INPUT', `${what} ${JSON.stringify(sub)} is not a folder${where}`);
  }
  return join(root, inside);
}

/** `mount` with `fd` as its fd 3. */
function mountWithFd(args: readonly string[], fd: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('mount', args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => { err += d.toString('utf8'); });
    child.once('error', (e) => reject(new KeelError('E_RUN_SETUP', `the ${what} could not be bound: ${e.message}`)));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new KeelError('E_RUN_SETUP', `the ${what} could not be bound: ${err.trim() || `mount exited ${code ?? 'on a signal'}`}`))));
  });
}

/**
 * Bind folder `sub` of `root` onto `mountPoint` (made here), safely; resolves to the unmount.
 * Errors name it `${what} "sub" … ${where}` (`cache mount source`, ` in cache "id"`).
 */
export async function bindBeneath(root: string, sub: string, mountPoint: string, what: string, where = ''): Promise<() => Promise<void>> {
  for (let tries = 10; ; tries--) {
    const path = resolveBeneath(root, sub, what, where);
    const fd = openSync(path, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    try {
      // what was opened is what was resolved: nothing swapped a folder on the way for a link
      if (readlinkSync(`/proc/self/fd/${fd}`) !== path || !fstatSync(fd).isDirectory()) {
        if (tries <= 1) throw new KeelError('E_BUILD_INPUT', `${what} ${JSON.stringify(sub)} cannot be resolved safely: it keeps changing`);
        continue;
      }
      await mkdir(mountPoint, { recursive: true });
      // the fd goes to mount as its fd 3; --no-canonicalize keeps mount(8) from resolving /proc/self/fd/3 to a name
      await mountWithFd(['--no-canonicalize', '--bind', '/proc/self/fd/3', mountPoint], fd, what);
      return async () => {
        await new Promise<void>((resolve) => execFile('umount', [mountPoint], () => resolve()));
        await rmdir(mountPoint).catch(() => undefined);
      };
    } finally {
      closeSync(fd);
    }
  }
}
