/**
 * `--chown=user[:group]` and `USER` to numeric ids, as BuildKit resolves them: numbers are taken as
 * they are, names are looked up in the destination stage's /etc/passwd and /etc/group. Without a
 * group, the gid is the uid's number (reference.md, COPY --chown).
 */
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import type { Owner } from './copy.js';
import { cleanPath, parentOf } from './stage-fs.js';

/** Where /etc/passwd and /etc/group are read from: a stage's tree, or a root folder on this machine. */
export interface RootFiles {
  /** A file's bytes by tree path (symlinks followed inside the root), or undefined when it is not a regular file. */
  readSmallFile(path: string): Promise<Buffer | undefined>;
}

/** A root folder on this machine as RootFiles: links are resolved inside it, as a chroot would. */
export function rootReader(root: string): RootFiles {
  const resolve = async (path: string, depth: number): Promise<string | undefined> => {
    if (depth > 40) return undefined;
    const parts = path === '' ? [] : path.split('/');
    let current = '';
    for (const part of parts) {
      const next = current === '' ? part : `${current}/${part}`;
      const st = await lstat(join(root, next)).catch(() => undefined);
      if (st === undefined) return undefined;
      if (st.isSymbolicLink()) {
        const target = await readlink(join(root, next));
        const resolved = await resolve(target.startsWith('/') ? cleanPath(target) : cleanPath(target, parentOf(next)), depth + 1);
        if (resolved === undefined) return undefined;
        current = resolved;
      } else current = next;
    }
    return current;
  };
  return {
    async readSmallFile(path) {
      const resolved = await resolve(cleanPath(path), 0);
      if (resolved === undefined) return undefined;
      const st = await lstat(join(root, resolved)).catch(() => undefined);
      return st?.isFile() === true ? readFile(join(root, resolved)) : undefined;
    },
  };
}

const NUMERIC = /^[0-9]+$/;

async function lookup(fs: RootFiles, file: '/etc/passwd' | '/etc/group', name: string): Promise<number | undefined> {
  const text = (await fs.readSmallFile(file.slice(1)))?.toString('utf8');
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] !== undefined && NUMERIC.test(fields[2])) return Number(fields[2]);
  }
  return undefined;
}

export async function resolveOwner(spec: string, fs: RootFiles): Promise<Owner> {
  const colon = spec.indexOf(':');
  const user = colon < 0 ? spec : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  const id = async (name: string, file: '/etc/passwd' | '/etc/group', what: 'user' | 'group'): Promise<number> => {
    if (NUMERIC.test(name)) return Number(name);
    const found = await lookup(fs, file, name);
    if (found === undefined) {
      throw new KeelError('E_BUILD_INPUT', `unable to find ${what} ${name}: no matching entries in ${what === 'user' ? 'passwd' : 'group'} file`);
    }
    return found;
  };
  const uid = await id(user, '/etc/passwd', 'user');
  const gid = group === undefined || group === '' ? uid : await id(group, '/etc/group', 'group');
  if (uid > 0xffffffff || gid > 0xffffffff) throw new KeelError('E_BUILD_INPUT', `invalid owner ${JSON.stringify(spec)}`);
  return { uid, gid };
}

/**
 * USER for a process: `name` or `uid`, with an optional `:group`. Without a group, the gid is the
 * user's primary group from /etc/passwd (0 for a uid it does not list), as Docker resolves it.
 */
export async function resolveUser(spec: string, fs: RootFiles): Promise<Owner> {
  const colon = spec.indexOf(':');
  const user = colon < 0 ? spec : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  const passwd = ((await fs.readSmallFile('etc/passwd'))?.toString('utf8') ?? '').split('\n').map((l) => l.split(':'));
  const entry = passwd.find((f) => (NUMERIC.test(user) ? f[2] === user : f[0] === user));
  if (entry === undefined && !NUMERIC.test(user)) {
    throw new KeelError('E_BUILD_INPUT', `unable to find user ${user}: no matching entries in passwd file`);
  }
  const uid = NUMERIC.test(user) ? Number(user) : Number(entry?.[2]);
  if (group !== undefined && group !== '') return { uid, gid: (await resolveOwner(`0:${group}`, fs)).gid };
  return { uid, gid: entry?.[3] !== undefined && NUMERIC.test(entry[3]) ? Number(entry[3]) : 0 };
}
