/**
 * The cache folder, opened once at the start of a build: made if missing (mode 0700, one level at
 * a time: Node's recursive mkdir loops on file systems such as /proc), and checked. It must be a
 * folder this process can write, and no other user may enter it: layer folders keep device nodes,
 * setuid files and file capabilities of base images, which a shared, world-readable cache folder
 * would hand to every local user. A folder of ours that is open to others is closed (0700), as
 * BuildKit's and containerd's state folders are; one of another user's, or a symbolic link, is
 * refused. Every problem is E_CACHE, naming the folder.
 */
import { constants } from 'node:fs';
import { access, chmod, lstat, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeelError } from '../errors.js';

const errno = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Make and check `dir` (absolute); `uid`: this process's, to tell a folder of ours from another user's. */
export async function openCacheDir(dir: string, uid: number | undefined): Promise<void> {
  const fail = (why: string, cause?: unknown): never => {
    throw new KeelError('E_CACHE', `the cache folder ${dir} cannot be used: ${why}`, cause === undefined ? {} : { cause });
  };
  await makeFolders(dir).catch((e: unknown) => fail(`it cannot be made (${errno(e)})`, e));
  // lstat: a link planted where the folder should be (in /tmp, say) is refused, never followed
  const st = await lstat(dir).catch((e: unknown) => fail(errno(e), e));
  if (st.isSymbolicLink()) fail('it is a symbolic link (name the folder it points to)');
  if (!st.isDirectory()) fail('it is not a folder');
  // another user's folder is refused whatever its mode: root could write it, and its owner could swap what is in it
  if (uid !== undefined && st.uid !== uid) fail(`it belongs to uid ${st.uid}, not to this user (${uid})`);
  await access(dir, constants.W_OK | constants.X_OK).catch((e: unknown) => fail(`this user cannot write it (${errno(e)})`, e));
  if ((st.mode & 0o077) !== 0) {
    await chmod(dir, st.mode & 0o7700).catch((e: unknown) => fail(`it is open to other users and cannot be closed (${errno(e)})`, e));
  }
}

/** mkdir -p, a level at a time, the folders it makes 0700. */
async function makeFolders(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    const there = await stat(d).then(() => true, (e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    });
    if (there) break;
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    await mkdir(d, { mode: 0o700 }).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // made by a build beside this one
    });
  }
}
