/**
 * The root file system outputs, as buildx's `tar` and `local` exporters write them: the image's
 * layers flattened into one tree (whiteouts applied), as a tar (`type=tar`) or into a folder
 * (`type=local`). The tree's entries come from the builder (the stage's tree); the tar is the layer
 * writer's, so its entries are sorted and its times those of the layers.
 */
import { chmod, lchown, lstat, lutimes, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { imagePlatform, imagesOf, platformString, writeLayerTar, tempBeside, type BuiltArtifact, type LayerEntry } from '../image/index.js';
import { extractLayerDir } from '../snapshot/index.js';
import { writeBytes, type Destination } from './destination.js';
import { checkWritableParent, destination, sending, shownAs, type BuildOutput, type OutputOptions, type Sink } from './sink.js';

/**
 * Each platform's root file system in a folder of its own (`linux_amd64/`, `linux_arm64/`), as
 * buildx's local and tar exporters lay out a build for several platforms; one platform: at the top.
 */
export function rootfsOfPlatforms(parts: ReadonlyArray<{ readonly folder: string; readonly entries: readonly LayerEntry[] }>): LayerEntry[] {
  const [only] = parts;
  if (parts.length === 1 && only !== undefined) return [...only.entries];
  const under = (folder: string, e: LayerEntry): LayerEntry => {
    const path = `${folder}/${e.path}`;
    return e.type === 'hardlink' ? { ...e, path, target: `${folder}/${e.target}` } : { ...e, path };
  };
  return [...parts].sort((a, b) => (a.folder < b.folder ? -1 : 1)).flatMap((p) => [
    { type: 'directory' as const, path: p.folder, mode: 0o755, uid: 0, gid: 0, mtime: 0 },
    ...p.entries.map((e) => under(p.folder, e)),
  ]);
}

/** The flattened root file system as one tar. */
export async function writeRootfsTar(entries: readonly LayerEntry[], to: Destination, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<void> {
  await writeBytes(writeLayerTar(entries), to, signal, onBytes);
}

/** Extended attributes that grant or label privilege: never written into a user's folder. */
const PRIVILEGED_XATTR = /^(security|trusted)\./;

/**
 * The entries as the caller's files: owned by `owner`, without device nodes (a fifo stays), setuid
 * and setgid bits, or file capabilities (security.*) — a folder of a hostile image's files must not
 * hand a local user a setuid-root shell or a /dev/sda of mode 0666. buildx's local exporter writes
 * through the client (session/filesync), as the client's user, to the same effect.
 */
export function asCallersFiles(entries: readonly LayerEntry[], owner: { readonly uid: number; readonly gid: number }): LayerEntry[] {
  const out: LayerEntry[] = [];
  for (const e of entries) {
    if (e.type === 'whiteout') continue;
    if (e.type === 'device' && e.device !== 'fifo') continue;
    const xattrs = e.xattrs === undefined ? undefined : Object.fromEntries(Object.entries(e.xattrs).filter(([k]) => !PRIVILEGED_XATTR.test(k)));
    const { xattrs: _dropped, ...rest } = e;
    out.push({ ...rest, uid: owner.uid, gid: owner.gid, mode: e.mode & ~0o6000, ...(xattrs === undefined || Object.keys(xattrs).length === 0 ? {} : { xattrs }) } as LayerEntry);
  }
  // a hard link to a device left out would point at nothing
  const kept = new Set(out.map((e) => e.path));
  return out.filter((e) => e.type !== 'hardlink' || kept.has(e.target));
}

/**
 * The flattened root file system into folder `path`, created if missing. What is in the folder
 * already stays unless the image has the same path, which replaces it (a folder in both is merged),
 * as buildx's local exporter merges: `-o type=local,dest=.` of a build's artifacts is common. The
 * files are extracted beside the folder first, so a failed build changes nothing in it. With an
 * `owner` (the caller), the files are the caller's (asCallersFiles).
 */
export async function writeRootfsDir(entries: readonly LayerEntry[], path: string, owner?: { readonly uid: number; readonly gid: number }, signal?: AbortSignal): Promise<void> {
  const tmp = tempBeside(path);
  try {
    await extractLayerDir(writeLayerTar(owner === undefined ? entries : asCallersFiles(entries, owner)), tmp, signal === undefined ? {} : { signal });
    await mkdir(path, { recursive: true });
    await mergeInto(tmp, path, false);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Move everything in `from` into `to`: a folder in both is merged, anything else replaced; a merged
 * folder takes `from`'s metadata, but not the destination itself (the user's folder keeps its own).
 */
async function mergeInto(from: string, to: string, withMetadata = true): Promise<void> {
  for (const name of await readdir(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    const [s, d] = await Promise.all([lstat(src), lstat(dst).catch(() => undefined)]);
    if (s.isDirectory() && d?.isDirectory() === true) {
      await mergeInto(src, dst);
      continue;
    }
    if (d !== undefined) await rm(dst, { recursive: true, force: true });
    await rename(src, dst);
  }
  const meta = await lstat(from);
  if (!withMetadata) return;
  await lchown(to, meta.uid, meta.gid).catch(() => undefined); // as the image says where keel may (root)
  await chmod(to, meta.mode & 0o7777);
  await lutimes(to, meta.atime, meta.mtime);
}

/** The root file system of the image, or of each platform's image in a folder named for it (`linux_arm64`). */
async function rootfsEntries(artifact: BuiltArtifact, opts: OutputOptions): Promise<LayerEntry[]> {
  const parts = await Promise.all(imagesOf(artifact).map(async (image) => ({
    folder: platformString(imagePlatform(image)).replaceAll('/', '_'),
    entries: await opts.rootfs(image),
  })));
  return rootfsOfPlatforms(parts);
}

export const rootfsTarSink: Sink<Extract<BuildOutput, { type: 'rootfs-tar' }>> = {
  image: false,
  describe: (o) => `exporting root file system to ${shownAs(o)}`,
  check: async (o) => {
    if (o.path !== undefined) await checkWritableParent(o.path, 'file');
  },
  write: async (artifact, o, opts) => {
    await writeRootfsTar(await rootfsEntries(artifact, opts), destination(o), opts.signal, sending(opts));
    return {};
  },
};

export const rootfsDirSink: Sink<Extract<BuildOutput, { type: 'rootfs-dir' }>> = {
  image: false,
  describe: (o) => `exporting root file system to ${o.path}`,
  check: async (o) => {
    const s = await stat(o.path).catch(() => undefined);
    if (s !== undefined && !s.isDirectory()) throw new KeelError('E_BUILD_INPUT', `the output folder ${o.path} is a file`);
    await checkWritableParent(o.path, 'folder');
  },
  write: async (artifact, o, opts) => {
    await writeRootfsDir(await rootfsEntries(artifact, opts), o.path, opts.owner, opts.signal);
    return {};
  },
};
