/**
 * RUN on overlayfs (SPEC.md section 7), the path taken as root where overlayfs mounts: the stage's
 * layer folders (layer-dirs.ts) stacked read-only under a fresh upper folder, so nothing of the
 * tree is written out. After the command the upper folder holds exactly what changed, read the
 * way BuildKit reads it (util/overlay/overlay_linux.go, Changes and sameDirent):
 * - deletions: in every folder the upper one holds and the lower ones had, what the lower folders
 *   showed and the merged view no longer does. That covers both overlayfs whiteouts (0/0 devices)
 *   and opaque folders (a folder deleted and made again) without reading xattrs, and gives the
 *   explicit deletions BuildKit writes for an opaque folder;
 * - an entry copied up but not changed is no change: same mode, owner and device, and for
 *   non-folders the same size and mtime (nanoseconds included; when both have none, as files from
 *   a tar do, the bytes are compared); folders are compared without their mtime;
 * - the stubs runc makes for its mounts (/proc, /sys, /dev, /etc/hosts, /etc/resolv.conf, mount
 *   targets), when the lower folders lacked them, are no change.
 * A second, read-only overlay of the lower folders alone ("before") answers what was there.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { mkdir, open, readlink, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { command, quietly, RUNTIME_STUBS } from '../runtime/index.js';
import { deviceNode } from './rootfs-copy.js';
import { parentOf, StageFs, type FsNode } from '../tree/index.js';


/** An empty folder under the layers folder: the lower of a stack with none (FROM scratch). */
export const EMPTY_LOWER = 'empty';
/** Another, below a stack of one for its read-only view (overlayfs takes no folder twice). */
const EMPTY_BELOW = 'empty-below';

/** The mount option string the kernel takes is one page; longer stacks use the plain path. */
const MAX_OPTIONS = 4000;
/** Layers one overlay mount takes here: 65 characters each (a diffID's hex and a colon) within the page. */
export const MAX_OVERLAY_LAYERS = 50;

export interface Overlay {
  /** What the command sees (the bundle's rootfs). */
  readonly merged: string;
  readonly upper: string;
  /** The lower folders alone, read-only. */
  readonly before: string;
  /** Unmount both views (idempotent: every call awaits the one unmount). */
  unmount(): Promise<void>;
}

/**
 * Whether overlayfs mounts in `scratch` (a kernel with overlay, a file system it accepts as upper
 * folder, root in this user namespace). Asked by each build of its own cache folder: the answer
 * belongs to that file system, never to the process.
 */
export async function overlayUsable(scratch: string, options: readonly string[]): Promise<boolean> {
  const dir = join(scratch, `overlay-probe-${randomBytes(6).toString('hex')}`);
  try {
    for (const d of ['lower1', 'lower2', 'upper', 'work', 'merged']) await mkdir(join(dir, d), { recursive: true });
    const ov = await mountOverlay(dir, ['lower1', 'lower2'], join(dir, 'upper'), join(dir, 'work'), join(dir, 'merged'), options);
    await ov.unmount();
    return true;
  } catch {
    return false;
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Mount `lowers` (names relative to `layersRoot`, topmost first) under `upper` at `merged`, and the
 * lowers alone at `${merged}.before`. Names are passed relative to `layersRoot` (mount runs there),
 * as containerd does, so that more layers fit in the option page.
 */
/** `options`: extra overlay mount options (the sandbox's: `userxattr` in a user namespace). */
export async function mountOverlay(layersRoot: string, lowers: readonly string[], upper: string, work: string, merged: string, options: readonly string[]): Promise<Overlay> {
  const before = `${merged}.before`;
  await mkdir(merged, { recursive: true });
  await mkdir(before, { recursive: true });
  const extra = options.map((o) => `,${o}`).join('');
  const mountOptions = `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}${extra}`;
  if (mountOptions.length > MAX_OPTIONS || lowers.some((l) => /[:,\\]/.test(l))) {
    throw new KeelError('E_RUN_SETUP', 'too many layers for one overlay mount');
  }
  // overlayfs wants two lower folders or more without an upper: one is stacked on an empty folder
  // (a bind mount of it would show its whiteouts, 0/0 devices, as names that cannot be opened)
  const beforeLowers = lowers.length === 1 ? [...lowers, EMPTY_BELOW] : lowers;
  if (lowers.length === 1) await mkdir(join(layersRoot, EMPTY_BELOW), { recursive: true });
  const beforeArgs = ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${beforeLowers.join(':')}${extra}`, before];
  // both mounts in one shell: each spawn from a large Node process costs milliseconds
  const q = (args: readonly string[]): string => args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  await command('sh', ['-c', `mount ${q(['-t', 'overlay', 'overlay', '-o', mountOptions, merged])} && { mount ${q(beforeArgs)} || { umount ${q([merged])}; exit 1; }; }`], { cwd: layersRoot });
  let unmounting: Promise<void> | undefined;
  const unmount = async (): Promise<void> => {
    try {
      await command('umount', [merged, before]);
    } catch {
      // busy (a process the runtime left behind): detach now, freed when it ends
      await quietly('umount', ['-l', merged]);
      await quietly('umount', ['-l', before]);
    }
    await rmdir(before).catch(() => undefined);
  };
  return {
    merged,
    upper,
    before,
    unmount: () => (unmounting ??= unmount()),
  };
}

type Stat = BigIntStats;
const isWhiteout = (st: Stat): boolean => st.isCharacterDevice() && st.rdev === 0n;

/** What a RUN changed: tree paths (sorted; deleted ones are absent from `fs`) and a tree holding each changed node and its parent folders. */
export interface OverlayChanges {
  readonly paths: readonly string[];
  readonly fs: StageFs;
  /** Runtime stubs in the upper folder: removed before it becomes a layer folder (removeStubs). */
  readonly stubs: readonly string[];
  /** Folders runc made on the way to mount targets: removed too when nothing else is in them. */
  readonly stubFolders: readonly string[];
}

/** Read the change out of a mounted overlay (before unmounting it). `mountPoints`: RUN --mount targets, as tree paths. */
export async function overlayChanges(ov: Overlay, mountPoints: readonly string[]): Promise<OverlayChanges> {
  const targets = new Set(mountPoints);
  // what runc may make folders for: mount targets and the files it binds (BuildKit's stubs.go
  // removes the parent folders it had to create too, /etc on a base without one)
  const madeFor = new Set([...mountPoints, ...RUNTIME_STUBS]);
  const changed = new Map<string, FsNode | undefined>();
  const stubs: string[] = [];
  const stubFolders: string[] = [];
  let visited = 0;
  /** `fresh`: the folder was not there before, so nothing below it was either. */
  const walk = async (rel: string, fresh: boolean): Promise<void> => {
    // metadata calls are synchronous here: a RUN can leave thousands of files, and each async
    // call is a thread-pool round trip; the loop yields now and then instead
    const names = readdirSync(join(ov.upper, rel)).sort();
    if (!fresh) {
      const now = new Set(readdirSync(join(ov.merged, rel)));
      for (const name of readdirSync(join(ov.before, rel))) if (!now.has(name)) changed.set(rel === '' ? name : `${rel}/${name}`, undefined);
    }
    for (const name of names) {
      if (++visited % 256 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(ov.upper, path), { bigint: true });
      const base = fresh ? undefined : lstatSync(join(ov.before, path), { bigint: true, throwIfNoEntry: false });
      if (isWhiteout(st)) continue; // a deletion, found above from the two views
      if (base === undefined) {
        if (RUNTIME_STUBS.has(path) || targets.has(path)) {
          stubs.push(path);
          continue;
        }
        if (st.isDirectory() && madeForMount(path, madeFor)) {
          const inside = readdirSync(join(ov.upper, path));
          if (inside.every((n) => madeFor.has(`${path}/${n}`) || madeForMount(`${path}/${n}`, madeFor))) {
            stubFolders.push(path); // made by runc on the way to a mount target: only what is below counts
            await walk(path, true);
            continue;
          }
        }
      }
      const node = nodeOf(st, join(ov.upper, path));
      if (node === undefined) continue; // sockets and the like are not kept
      if (base === undefined || !(await sameEntry(base, st, join(ov.before, path), join(ov.upper, path)))) changed.set(path, node);
      if (st.isDirectory() && !targets.has(path)) await walk(path, fresh || base === undefined || !base.isDirectory());
    }
  };
  await walk('', false);

  // the layer carries each change's parent folders too, as they are now (BuildKit's ChangeWriter)
  const fs = new StageFs();
  for (const [path, node] of changed) {
    if (node !== undefined) fs.set(path, node);
    for (let p = parentOf(path); p !== '' && fs.get(p) === undefined; p = parentOf(p)) {
      const parent = nodeOf(lstatSync(join(ov.merged, p), { bigint: true }), join(ov.merged, p));
      if (parent !== undefined) fs.set(p, parent);
    }
  }
  return { paths: [...changed.keys()].sort(), fs, stubs, stubFolders };
}

/** A folder on the way to a mount target or a bound file (runc made it when it was not there before). */
function madeForMount(path: string, targets: ReadonlySet<string>): boolean {
  for (const t of targets) if (t.startsWith(`${path}/`)) return true;
  return false;
}

function nodeOf(st: Stat, host: string): FsNode | undefined {
  const meta = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtime: Number(st.mtimeNs / 1_000_000_000n) };
  if (st.isDirectory()) return { type: 'directory', ...meta };
  if (st.isFile()) {
    // hard links inside the change share an inode, so they share a fingerprint (layerEntries links them)
    return { type: 'file', ...meta, size: Number(st.size), source: { kind: 'host', path: host, fingerprint: `run:${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}:${st.size}`, scratch: true } };
  }
  if (st.isSymbolicLink()) return { type: 'symlink', ...meta, mode: 0o777, target: readlinkSync(host) };
  return deviceNode(st, meta); // a device or fifo the command made (whiteouts are read before); sockets are not kept
}

/** BuildKit's sameDirent: is the upper entry the lower one, copied up without a change? */
async function sameEntry(base: Stat, st: Stat, basePath: string, upperPath: string): Promise<boolean> {
  if (base.mode !== st.mode || base.uid !== st.uid || base.gid !== st.gid || base.rdev !== st.rdev) return false;
  if (st.isDirectory()) return true;
  if (base.size !== st.size || base.mtimeNs / 1_000_000_000n !== st.mtimeNs / 1_000_000_000n) return false;
  const ns = (s: Stat): bigint => s.mtimeNs % 1_000_000_000n;
  if (ns(base) !== 0n || ns(st) !== 0n) return ns(base) === ns(st);
  // both from a tar (no nanoseconds): only the bytes can tell
  if (st.isSymbolicLink()) return (await readlink(basePath)) === (await readlink(upperPath));
  return sameBytes(basePath, upperPath, Number(st.size));
}

async function sameBytes(a: string, b: string, size: number): Promise<boolean> {
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    const ba = Buffer.alloc(Math.min(size, 1 << 16));
    const bb = Buffer.alloc(ba.length);
    for (let at = 0; at < size; at += ba.length) {
      const n = Math.min(ba.length, size - at);
      await Promise.all([fa.read(ba, 0, n, at), fb.read(bb, 0, n, at)]);
      if (!ba.subarray(0, n).equals(bb.subarray(0, n))) return false;
    }
    return true;
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

/** Take the runtime's stubs out of an upper folder, so that it can serve as the layer's folder. */
export async function removeStubs(upper: string, changes: Pick<OverlayChanges, 'stubs' | 'stubFolders'>): Promise<void> {
  for (const path of changes.stubs) await rm(join(upper, path), { recursive: true, force: true });
  for (const path of [...changes.stubFolders].sort().reverse()) await rmdir(join(upper, path)).catch(() => undefined);
}
