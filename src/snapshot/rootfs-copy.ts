/**
 * RUN by the extraction path (SPEC.md section 7's fallback where overlayfs does not mount; overlay.ts is the usual
 * path): the stage's tree is written out as a root filesystem, the command runs in it, and a walk of the
 * result against the tree gives what changed (added, changed, deleted). Each file's inode change
 * time is noted once its metadata is set: the kernel moves it on any write, chmod, chown or link
 * the command makes, and nothing can set it back (a mark in an mtime's nanoseconds could be, and
 * utimes' float seconds cannot even carry one exactly: every file looked changed).
 * The stubs the runtime makes for its mounts (/proc, /sys, /dev, /etc/hosts, /etc/resolv.conf), when
 * they were not there before, are not changes.
 */
import { copyFile, lchown, lstat, lutimes, mkdir, readdir, readlink, symlink, utimes, writeFile, chmod, chown } from 'node:fs/promises';
import { join } from 'node:path';
import type { BigIntStats } from 'node:fs';
import { parentOf, type FsNode, type NodeMeta, type StageFs } from '../tree/index.js';
import { RUNTIME_STUBS } from '../runtime/index.js';
import { makeSpecials, setXattrs } from './special-files.js';

/** Each file written out, by tree path, with its inode change time (ns) when it was ready. */
export type Written = ReadonlyMap<string, bigint>;

/** Write the tree out as a root filesystem at `dir` (which must not exist); what it wrote, for diffRootfs. */
export async function materialize(fs: StageFs, dir: string): Promise<Written> {
  const written = new Map<string, bigint>();
  await mkdir(dir, { recursive: true });
  const root = fs.get('') as FsNode;
  await chmod(dir, root.mode);
  const dirs: Array<[string, FsNode]> = [];
  // devices and extended attributes need mknod and setfattr: made in one batch each, after the walk
  const devices: Array<[string, Extract<FsNode, { type: 'device' }>]> = [];
  const attrs: Array<[string, string, Buffer]> = [];
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
        await utimes(host, node.mtime, node.mtime);
        written.set(path, (await lstat(host, { bigint: true })).ctimeNs);
        break;
      case 'symlink':
        await symlink(node.target, host);
        await lchown(host, node.uid, node.gid);
        await lutimes(host, node.mtime, node.mtime);
        break;
      case 'device':
        devices.push([host, node]);
        break;
    }
    for (const [name, value] of Object.entries(node.xattrs ?? {})) attrs.push([host, name, Buffer.from(value, 'base64')]);
  }
  await makeSpecials(devices.map(([host, d]) => [host, d.device === 'fifo' ? 'p' : d.device === 'char' ? 'c' : 'b', d.major, d.minor]));
  for (const [host, d] of devices) {
    await chown(host, d.uid, d.gid);
    await chmod(host, d.mode);
    await utimes(host, d.mtime, d.mtime);
  }
  await setXattrs(attrs);
  // folders last (deepest first), so that writing their children did not change their times
  for (const [host, node] of dirs.reverse()) {
    await chown(host, node.uid, node.gid);
    await chmod(host, node.mode);
    await utimes(host, node.mtime, node.mtime);
  }
  return written;
}


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
export async function diffRootfs(fs: StageFs, dir: string, written: Written, mountPoints: readonly string[] = []): Promise<Change[]> {
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
      const untouched = written.get(path) === st.ctimeNs; // no write, chmod, chown or link since it was written out
      const meta = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtime };
      let node: FsNode | undefined;
      if (st.isDirectory()) node = { type: 'directory', ...meta };
      else if (st.isSymbolicLink()) node = { type: 'symlink', ...meta, target: await readlink(host) };
      else if (st.isFile()) node = { type: 'file', ...meta, size: Number(st.size), source: { kind: 'host', path: host, fingerprint: `run:${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}:${st.size}`, scratch: true } };
      else node = deviceNode(st, meta); // sockets are not kept
      if (node !== undefined) {
        const same =
          before !== undefined && before.type === node.type && before.mode === node.mode && before.uid === node.uid && before.gid === node.gid &&
          (node.type !== 'file' || (untouched && before.type === 'file' && before.size === node.size && before.mtime === mtime)) &&
          (node.type !== 'symlink' || (before.type === 'symlink' && before.target === node.target)) &&
          (node.type !== 'device' || (before.type === 'device' && before.device === node.device && before.major === node.major && before.minor === node.minor));
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


/** A device or fifo as a tree node (undefined for a socket). Linux device numbers: major in bits 8-19, minor in 0-7 and 20-31. */
export function deviceNode(st: BigIntStats, meta: NodeMeta): FsNode | undefined {
  const rdev = Number(st.rdev);
  const numbers = { major: (rdev >> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
  if (st.isCharacterDevice()) return { type: 'device', ...meta, device: 'char', ...numbers };
  if (st.isBlockDevice()) return { type: 'device', ...meta, device: 'block', ...numbers };
  if (st.isFIFO()) return { type: 'device', ...meta, device: 'fifo', major: 0, minor: 0 };
  return undefined;
}
