/**
 * `--chown=user[:group]` and `USER` to numeric ids, as BuildKit resolves them: numbers are taken as
 * they are, names are looked up in the destination stage's /etc/passwd and /etc/group. Without a
 * group, a user named gets its primary group from /etc/passwd, a numeric uid gets its own number
 * as gid (solver/llbsolver/file/user_linux.go, readUser).
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import type { Owner } from './copy.js';
import { cleanPath, resolveInRoot } from '../tree/index.js';

/** Where /etc/passwd and /etc/group are read from: a stage's tree, or a root folder on this machine. */
export interface RootFiles {
  /** A file's bytes by tree path (symlinks followed inside the root), or undefined when it is not a regular file. */
  readSmallFile(path: string): Promise<Buffer | undefined>;
}

/** A root folder on this machine as RootFiles: links are resolved inside it, as a chroot would. */
export function rootReader(root: string): RootFiles {
  const linkAt = (p: string): string | undefined =>
    lstatSync(join(root, p), { throwIfNoEntry: false })?.isSymbolicLink() === true ? readlinkSync(join(root, p)) : undefined;
  return {
    async readSmallFile(path) {
      const host = join(root, resolveInRoot(cleanPath(path), true, linkAt));
      return lstatSync(host, { throwIfNoEntry: false })?.isFile() === true ? readFile(host) : undefined;
    },
  };
}

const NUMERIC = /^[0-9]+$/;

/** The entry named `name` in /etc/passwd or /etc/group: its id (third field) and, in passwd, the primary gid (fourth). */
async function lookup(fs: RootFiles, file: '/etc/passwd' | '/etc/group', name: string): Promise<{ id: number; gid?: number } | undefined> {
  const text = (await fs.readSmallFile(file.slice(1)))?.toString('utf8');
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] !== undefined && NUMERIC.test(fields[2])) {
      return { id: Number(fields[2]), ...(fields[3] !== undefined && NUMERIC.test(fields[3]) ? { gid: Number(fields[3]) } : {}) };
    }
  }
  return undefined;
}

export async function resolveOwner(spec: string, fs: RootFiles): Promise<Owner> {
  const colon = spec.indexOf(':');
  const user = colon < 0 ? spec : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  const id = async (name: string, file: '/etc/passwd' | '/etc/group', what: 'user' | 'group'): Promise<{ id: number; gid?: number }> => {
    if (NUMERIC.test(name)) return { id: Number(name) };
    const found = await lookup(fs, file, name);
    if (found === undefined) {
      throw new KeelError('E_BUILD_INPUT', `unable to find ${what} ${name}: no matching entries in ${what === 'user' ? 'passwd' : 'group'} file`);
    }
    return found;
  };
  const u = await id(user, '/etc/passwd', 'user');
  const uid = u.id;
  const gid = group === undefined || group === '' ? (u.gid ?? uid) : (await id(group, '/etc/group', 'group')).id;
  if (uid > 0xffffffff || gid > 0xffffffff) throw new KeelError('E_BUILD_INPUT', `invalid owner ${JSON.stringify(spec)}`);
  return { uid, gid };
}

/** A process's user: its ids, and the supplementary groups it runs with (the primary gid first). */
export interface ProcessUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
}

/**
 * USER for a process (`name` or `uid`, with an optional `:group`; empty: root), as BuildKit's
 * executor resolves it (executor/oci/user.go GetUser, moby/sys/user GetExecUser): without a group,
 * the gid is the user's primary group from /etc/passwd (0 for a uid it does not list) and the
 * supplementary groups are those /etc/group lists the user's name in; with a group, none. The
 * primary gid always leads the list (ensureAdditionalGids). `uid:gid` in numbers reads no file.
 */
export async function resolveUser(spec: string, fs: RootFiles): Promise<ProcessUser> {
  const colon = spec.indexOf(':');
  const user = colon < 0 ? (spec === '' ? '0' : spec) : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  const withPrimary = (uid: number, gid: number, sgids: readonly number[] = []): ProcessUser => ({ uid, gid, additionalGids: [gid, ...sgids.filter((g) => g !== gid)] });
  if (NUMERIC.test(user) && group !== undefined && NUMERIC.test(group)) return withPrimary(Number(user), Number(group));
  const passwd = ((await fs.readSmallFile('etc/passwd'))?.toString('utf8') ?? '').split('\n').map((l) => l.split(':'));
  const entry = passwd.find((f) => (NUMERIC.test(user) ? f[2] === user : f[0] === user));
  if (entry === undefined && !NUMERIC.test(user)) {
    throw new KeelError('E_BUILD_INPUT', `unable to find user ${user}: no matching entries in passwd file`);
  }
  const uid = NUMERIC.test(user) ? Number(user) : Number(entry?.[2]);
  if (group !== undefined && group !== '') return withPrimary(uid, (await resolveOwner(`0:${group}`, fs)).gid);
  const gid = entry?.[3] !== undefined && NUMERIC.test(entry[3]) ? Number(entry[3]) : 0;
  const name = entry?.[0];
  if (name === undefined) return withPrimary(uid, gid);
  const groups = ((await fs.readSmallFile('etc/group'))?.toString('utf8') ?? '').split('\n').map((l) => l.split(':'));
  const sgids = groups.filter((g) => g[2] !== undefined && NUMERIC.test(g[2]) && (g[3] ?? '').split(',').map((m) => m.trim()).includes(name)).map((g) => Number(g[2]));
  return withPrimary(uid, gid, sgids);
}
