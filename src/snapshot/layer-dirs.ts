/**
 * Layers as overlayfs lower folders (SPEC.md section 7): each layer is extracted once into
 * `<cacheDir>/layers/<diffID hex>/` in the form overlayfs reads, and every later RUN on it, in this
 * build or a later one, stacks the folders instead of writing the tree out again. As containerd's
 * overlay snapshotter and its archive applier (pkg/archive/tar.go) lay a layer out:
 * - a `.wh.NAME` entry becomes a 0/0 character device NAME (overlayfs' whiteout);
 * - `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its folder (`user.overlay.opaque` in a user
 *   namespace, sandbox.ts);
 * - modes, owners, mtimes, hard links, symlinks, device files, fifos and extended attributes
 *   (`security.capability` among them) are kept.
 * Every entry passes the rules of tree/entries.ts, the same ones the tree applier uses, so RUN on
 * overlayfs sees what COPY and RUN on a copy see. A parent folder the layer does not name takes the
 * metadata of the lower layers' folder (containerd's mkparent), so overlayfs shows what the tree
 * applier keeps. Extraction goes to a temporary folder renamed into place, so a half-extracted
 * layer is never used.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, copyFileSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, utimesSync, writeFileSync, writeSync, type Stats } from 'node:fs';
import { chmod, chown, copyFile, link, lstat, mkdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KeelError } from '../errors.js';
import { HashCounter, layerCompression, readTar, SMALL_FILE, type BlobReader, type Digest, type Layer, type LayerEntry, type TarEntry } from '../image/index.js';
import { ArchiveRules, decompress, IMPLICIT_FOLDER, parentOf, type Compression, type EntryMeta, type FileSource, type StageFs, type UnpackLimits, type Xattrs } from '../tree/index.js';
import { syncFileSystem, type Sandbox } from '../runtime/index.js';
import { makeSpecials, setXattrs, type Special } from './special-files.js';

type OverlayXattr = Sandbox['overlayXattr'];

/** The folder a layer is (or will be) extracted to. */
export const layerDirPath = (root: string, layer: Pick<Layer, 'diffId'>): string => join(root, layer.diffId.slice('sha256:'.length));

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** A layer's folder, and whether the layer makes the root opaque (it hides every layer below it). */
export interface LayerDir {
  readonly path: string;
  readonly opaqueRoot: boolean;
}

/**
 * overlayfs honours an opaque mark on a folder, but not on a lower layer's root: a layer whose
 * `.wh..wh..opq` is at its root is marked by a file beside its folder (`<diffID>.opaque-root`,
 * written before the folder is put in place), and the layers below it are left out of the stack.
 */
const opaqueRootMark = (dir: string): string => `${dir}.opaque-root`;

/** Where a layer's folder is extracted before it is put in place. */
const extractingTo = (dir: string): string => `${dir}.${randomBytes(6).toString('hex')}.tmp`;

/**
 * Put an extracted folder in place as a layer's folder, the opaque-root mark first. Its files were
 * written without an fsync each: one flush of the file system first, so that what a crash leaves
 * under the diffID's name is whole (as a RUN's upper folder is, flushed by its unmount).
 */
async function publish(tmp: string, dir: string, opaqueRoot: boolean): Promise<void> {
  await syncFileSystem(tmp);
  if (opaqueRoot) await writeFile(opaqueRootMark(dir), '');
  await commitLayerDir(tmp, dir);
}

/**
 * The layer's folder, extracted from its blob first when no build has done it yet. `lowers`: the
 * folders of the layers below it, topmost first, or the promise of them (for the metadata of
 * parent folders the layer does not name, read once the extraction is done). `verified`: resolves
 * once the layer's diffID is checked; the extraction runs meanwhile (on a fresh runner the check
 * and the extraction each inflate the layer, on two cores at once), but nothing is named by the
 * diffID before it resolves, and a rejection leaves no folder.
 */
export async function ensureLayerDir(
  root: string, store: BlobReader, layer: Layer, lowers: readonly string[] | Promise<readonly string[]>, xattrPrefix: OverlayXattr,
  verified: Promise<void>, limits?: UnpackLimits, signal?: AbortSignal,
): Promise<LayerDir> {
  const made = await madeLayerDir(root, layer);
  if (made !== undefined) {
    await verified;
    return made;
  }
  const dir = layerDirPath(root, layer);
  const tmp = extractingTo(dir);
  try {
    const compression: Compression = layerCompression(layer.mediaType);
    const extracted = extractLayerDir(decompress(await store.open(layer.digest), compression, limits), tmp, { xattrPrefix, lowers, ...(signal === undefined ? {} : { signal }) });
    // both settle before the folder is removed or named (a failed check says more than the extraction's error)
    const [x, v] = await Promise.allSettled([extracted, verified]);
    if (v.status === 'rejected') throw v.reason as unknown;
    if (x.status === 'rejected') throw x.reason as unknown;
    await publish(tmp, dir, x.value.opaqueRoot);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { path: dir, opaqueRoot: await exists(opaqueRootMark(dir)) };
}

/** The folder of a layer already in place (none when there is none), without reading its blob. */
export async function madeLayerDir(root: string, layer: Pick<Layer, 'diffId'>): Promise<LayerDir | undefined> {
  const dir = layerDirPath(root, layer);
  return (await exists(dir)) ? { path: dir, opaqueRoot: await exists(opaqueRootMark(dir)) } : undefined;
}

/**
 * A bottom layer's folder from its compressed bytes as they arrive (`input`: a download's copy),
 * its diffID computed on the way, so that a fresh runner inflates the base once: put in place under
 * the diffID only when the bytes are what that diffID names. Returns the diffID computed, or
 * undefined when the folder was there already; `input` is always read to its end or destroyed.
 */
export async function layerDirFromStream(root: string, layer: Layer, input: Readable, xattrPrefix: OverlayXattr, limits?: UnpackLimits, signal?: AbortSignal): Promise<Digest | undefined> {
  const dir = layerDirPath(root, layer);
  const tmp = extractingTo(dir);
  try {
    if (await exists(dir)) {
      input.resume();
      return undefined;
    }
    const hashed = new HashCounter(); // read by the extraction; its failure destroys it
    pipeline(decompress(input, layerCompression(layer.mediaType), limits), hashed).catch((e: unknown) => hashed.destroy(e as Error));
    const { opaqueRoot } = await extractLayerDir(hashed, tmp, { xattrPrefix, ...(signal === undefined ? {} : { signal }) });
    const computed = hashed.digest();
    if (computed === layer.diffId) await publish(tmp, dir, opaqueRoot);
    return computed;
  } finally {
    input.destroy();
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * A content layer's folder (a COPY's) written from the tree its entries come from, while the layer's
 * blob is written from the same entries, so that a RUN right after the COPY stacks it without
 * unpacking the blob again. The entries are this build's own (no tar rules to apply: tree/ checked
 * the paths when the tree was made); a layer with what a plain folder cannot hold without a tool
 * (devices, whiteouts, extended attributes) gets none here, and is extracted when a RUN needs it.
 * Files are copied by the kernel (copy_file_range) on the thread pool while this thread writes the
 * blob.
 */
/** Files a content layer's folder writes at once. */
const FILE_JOBS = 8;

export interface EntriesFolder {
  /** Put the folder in place as `layer`'s (the layer written from the same entries); quiet when it was not made. */
  publish(layer: Pick<Layer, 'diffId'>): Promise<void>;
  /** Drop it (the layer was not written). */
  discard(): Promise<void>;
}

/** An entry a folder is written from here: no device, whiteout or extended attribute (those layers' folders are extracted from their blobs). */
type PlainEntry = Exclude<LayerEntry, { type: 'whiteout' | 'device' }>;
const isPlain = (e: LayerEntry): e is PlainEntry => e.type !== 'whiteout' && e.type !== 'device' && e.xattrs === undefined;

export function layerDirFromEntries(root: string, entries: readonly LayerEntry[], fs: StageFs): EntriesFolder {
  const tmp = extractingTo(join(root, 'from-entries'));
  const made = (async (): Promise<boolean> => {
    const plain = entries.filter(isPlain);
    if (plain.length !== entries.length) return false;
    await mkdir(tmp, { recursive: true, mode: 0o755 });
    const folders: Array<[string, EntryMeta]> = [];
    const files: Array<[string, EntryMeta, FileSource, number]> = [];
    const links: Array<[string, string]> = [];
    // folders and symlinks first, in order (a parent before its children), synchronously: each is one call
    for (const e of plain) {
      const host = join(tmp, e.path);
      const meta = { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
      if (e.type === 'directory') {
        mkdirSync(host, { mode: 0o700 });
        folders.push([host, meta]);
      } else if (e.type === 'symlink') {
        symlinkSync(e.target, host);
        lchownSync(host, meta.uid, meta.gid);
        lutimesSync(host, meta.mtime, meta.mtime);
      } else if (e.type === 'hardlink') {
        links.push([join(tmp, e.target), host]);
      } else {
        const node = fs.get(e.path);
        if (node?.type !== 'file') return false;
        files.push([host, meta, node.source, node.size]);
      }
    }
    // small files here, one synchronous call each (a thread-pool round trip per call costs more
    // than the call: 300 small files take a third of the time), yielding now and then; large ones
    // on the thread pool, several at once, the kernel copying their bytes
    const isLarge = (source: FileSource, size: number): boolean => source.kind === 'host' && size > SMALL_FILE;
    const large = files.filter(([, , source, size]) => isLarge(source, size));
    let sinceYield = 0;
    for (const [host, meta, source, size] of files) {
      if (isLarge(source, size)) continue;
      if (source.kind === 'bytes') writeFileSync(host, source.data, { mode: 0o600 });
      else copyFileSync(source.path, host);
      chownSync(host, meta.uid, meta.gid);
      chmodSync(host, meta.mode);
      utimesSync(host, meta.mtime, meta.mtime);
      if (++sinceYield === 64) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < large.length; i = next++) {
        const [host, meta, source] = large[i] as [string, EntryMeta, Extract<FileSource, { kind: 'host' }>, number];
        await copyFile(source.path, host);
        await chown(host, meta.uid, meta.gid);
        await chmod(host, meta.mode);
        await utimes(host, meta.mtime, meta.mtime);
      }
    };
    await Promise.all(Array.from({ length: Math.min(FILE_JOBS, large.length) }, worker));
    for (const [target, host] of links) linkSync(target, host);
    // folders last, deepest first: writing their children moved their times
    for (const [host, meta] of folders.reverse()) {
      chownSync(host, meta.uid, meta.gid);
      chmodSync(host, meta.mode);
      utimesSync(host, meta.mtime, meta.mtime);
    }
    return true;
  })().catch(() => false);
  return {
    async publish(layer) {
      try {
        const dir = layerDirPath(root, layer);
        if ((await made) && !(await exists(dir))) await publish(tmp, dir, false);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    },
    async discard() {
      await made;
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

/** The lower folders for an overlay mount of `layers` (bottom first), topmost first: none below a layer that makes the root opaque. */
export function overlayLowers(layers: readonly LayerDir[]): string[] {
  const lowers: string[] = [];
  for (const l of layers) {
    if (l.opaqueRoot) lowers.length = 0;
    lowers.unshift(l.path);
  }
  return lowers;
}

/** Move a finished folder into place as a layer's folder; when one is there already (same diffID), keep that. */
export async function commitLayerDir(from: string, dir: string, trash?: string): Promise<void> {
  if (!(await exists(dir))) {
    try {
      await rename(from, dir);
      return;
    } catch (e) {
      // another build put the same layer there first: same diffID, same contents
      if (!(await exists(dir))) throw e;
    }
  }
  // a folder of the same layer is there already (a RUN made the same bytes again): the copy goes
  // to the trash, deleted later with the cache's other garbage, not now: on a disk that discards
  // online, deleting thousands of files slows every write of the next minute (the next build's)
  if (trash !== undefined) {
    await mkdir(trash, { recursive: true });
    await rename(from, join(trash, randomBytes(8).toString('hex'))).catch(() => undefined);
  }
}


/**
 * A file's bytes and metadata, by one descriptor (owner before mode: chown clears set-id bits),
 * with synchronous calls between the body's chunks: one Node thread-pool round trip costs more
 * than the system call itself (300 files of 600 bytes on the CI machine: 10-12 ms this way, 36 ms
 * with the promise API), and the decoder inflates the next chunks meanwhile (decompress.ts). A
 * small file's bytes are taken whole, without a stream.
 */
async function writeFileFrom(entry: TarEntry, path: string, meta: EntryMeta): Promise<void> {
  const small = entry.header.size <= SMALL_FILE ? await entry.bytes() : undefined;
  const fd = openSync(path, 'w', 0o600);
  try {
    for await (const chunk of small === undefined ? entry.body : [small]) {
      const data = chunk as Buffer;
      for (let at = 0; at < data.length;) at += writeSync(fd, data, at);
    }
    fchownSync(fd, meta.uid, meta.gid);
    fchmodSync(fd, meta.mode);
    futimesSync(fd, meta.mtime, meta.mtime);
  } finally {
    closeSync(fd);
  }
}

/** Bytes written between two early flushes of a folder being extracted. */
const WRITEBACK_EVERY = 32 * 1024 * 1024;

/**
 * Starts flushing a folder to disk while it is being written (a syncfs every WRITEBACK_EVERY
 * bytes, in a child process, not awaited, at most one at a time), so that the one flush awaited
 * before the folder is published (publish) finds little left to write: the disk writes while the
 * layer inflates. A failure here is not the extraction's: the awaited flush reports its own.
 */
class EarlyWriteback {
  #unflushed = 0;
  #running = false;
  constructor(private readonly dir: string) {}

  wrote(bytes: number): void {
    this.#unflushed += bytes;
    if (this.#unflushed < WRITEBACK_EVERY || this.#running) return;
    this.#unflushed = 0;
    this.#running = true;
    void syncFileSystem(this.dir).catch(() => undefined).finally(() => { this.#running = false; });
  }
}

export interface ExtractOptions {
  /** Prefix of overlayfs' own attributes (an opaque folder's mark). @default 'trusted.overlay.' */
  readonly xattrPrefix?: OverlayXattr;
  /**
   * The lower layers' folders, topmost first; a promise while they are still being extracted (a
   * stack is extracted side by side, each layer's folders the layer does not name given the lower
   * layers' metadata once those are in place, at the end).
   */
  readonly lowers?: readonly string[] | Promise<readonly string[]>;
  readonly signal?: AbortSignal;
}

/** Extract an uncompressed layer tar into `dir` (which must not exist) in overlayfs' form; whether the layer makes its root opaque. */
export async function extractLayerDir(tar: Readable, dir: string, opts: ExtractOptions = {}): Promise<{ opaqueRoot: boolean }> {
  const xattrPrefix = opts.xattrPrefix ?? 'trusted.overlay.';
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const rules = new ArchiveRules('layer');
  const writeback = new EarlyWriteback(dir);
  /** What is in the folder now, by path ('' is the folder itself). */
  const kinds = new Map<string, 'directory' | 'file' | 'other'>([['', 'directory']]);
  // owner, mode and times set last, deepest first: folders (writing their children changes their
  // times) and device nodes (made after the walk); by path
  const late = new Map<string, EntryMeta>();
  const specials = new Map<string, Special>();
  const opaque: string[] = [];
  const xattrs = new Map<string, Xattrs>();

  /** Folders made because the layer names something inside them but not them: their metadata is the lower layers', found at the end. */
  const implicit = new Set<string>();

  /** The parent folders of `path` that the layer does not name. */
  const parentFolder = async (path: string): Promise<void> => {
    // up to the nearest folder made, then down (a loop: a deep name must not exhaust the stack)
    const missing: string[] = [];
    for (let p = parentOf(path); kinds.get(p) !== 'directory'; p = parentOf(p)) missing.push(p);
    for (const p of missing.reverse()) {
      await mkdir(join(dir, p), { mode: 0o700 });
      kinds.set(p, 'directory');
      implicit.add(p);
    }
  };

  /** Take `path` (and what is below it) out of the folder, to put something else there. */
  const clear = async (path: string): Promise<void> => {
    if (!kinds.has(path)) return;
    await rm(join(dir, path), { recursive: true, force: true });
    const under = (k: string): boolean => k === path || k.startsWith(`${path}/`);
    for (const m of [kinds, late, specials, xattrs]) for (const k of [...m.keys()]) if (under(k)) m.delete(k);
    for (const k of [...implicit]) if (under(k)) implicit.delete(k);
  };

  /** One entry; a body it leaves unread is skipped by the reader. */
  const handle = async (entry: TarEntry): Promise<void> => {
      const header = entry.header;
      opts.signal?.throwIfAborted();
      const e = rules.read(header);
      if (e.kind === 'root') {
        late.set('', e.meta);
        if (e.xattrs !== undefined) xattrs.set('', e.xattrs);
        return;
      }
      if (e.kind === 'opaque') {
        if (e.dir !== '') await parentFolder(`${e.dir}/x`);
        opaque.push(e.dir);
        return;
      }
      await parentFolder(e.path);
      const host = join(dir, e.path);
      if (e.kind === 'whiteout') {
        await clear(e.path);
        kinds.set(e.path, 'other');
        specials.set(e.path, [host, 'c', 0, 0]);
        return;
      }
      if (e.kind !== 'directory' || kinds.get(e.path) !== 'directory') await clear(e.path);
      if (e.kind !== 'hardlink' && e.xattrs !== undefined) xattrs.set(e.path, e.xattrs);
      switch (e.kind) {
        case 'directory':
          if (kinds.get(e.path) !== 'directory') mkdirSync(host, { mode: 0o700 });
          kinds.set(e.path, 'directory');
          implicit.delete(e.path); // named after all (a tar may list a folder after what is in it)
          late.set(e.path, e.meta);
          return;
        case 'file':
          kinds.set(e.path, 'file');
          await writeFileFrom(entry, host, e.meta);
          writeback.wrote(header.size);
          return;
        case 'symlink':
          symlinkSync(e.target, host);
          kinds.set(e.path, 'other');
          lchownSync(host, e.meta.uid, e.meta.gid);
          lutimesSync(host, e.meta.mtime, e.meta.mtime);
          return;
        case 'hardlink':
          await link(join(dir, e.target), host);
          kinds.set(e.path, 'file');
          return;
        case 'device':
          kinds.set(e.path, 'other');
          specials.set(e.path, [host, e.device === 'fifo' ? 'p' : e.device === 'char' ? 'c' : 'b', e.major, e.minor]);
          late.set(e.path, e.meta);
          return;
      }
  };

  try {
    for await (const entry of readTar(tar)) await handle(entry);
  } catch (e) {
    if (e instanceof KeelError) throw e;
    throw new KeelError('E_BUILD_INPUT', `cannot extract the layer: ${(e as Error).message}`, { cause: e });
  } finally {
    tar.destroy(); // an entry refused part way: the decoder stops reading
  }
  const lowers = await opts.lowers;
  for (const p of implicit) late.set(p, (await lowerFolder(lowers ?? [], p)) ?? IMPLICIT_FOLDER);
  await makeSpecials([...specials.values()]);
  await setXattrs([
    ...opaque.map((p): [string, string, Buffer] => [join(dir, p), `${xattrPrefix}opaque`, Buffer.from('y')]),
    ...[...xattrs].flatMap(([p, attrs]) => Object.entries(attrs).map(([name, value]): [string, string, Buffer] => [join(dir, p), name, Buffer.from(value, 'base64')])),
  ]);
  for (const [path, meta] of [...late].sort(([a], [b]) => (a < b ? 1 : -1))) {
    const host = join(dir, path);
    chownSync(host, meta.uid, meta.gid);
    chmodSync(host, meta.mode);
    utimesSync(host, meta.mtime, meta.mtime);
  }
  return { opaqueRoot: opaque.includes('') };
}

/**
 * The metadata of the folder at `path` as the lower layers show it: from the topmost lower layer
 * that has something there, if that is a folder reached through folders only (never through a
 * symlink on this machine); undefined when none has, or it is not a folder there (a whiteout, a
 * file, a symlink on the way).
 */
async function lowerFolder(lowers: readonly string[], path: string): Promise<EntryMeta | undefined> {
  const parts = path.split('/');
  for (const lower of lowers) {
    let at = lower;
    let found: 'folder' | 'other' | 'absent' = 'folder';
    let st: Stats | undefined;
    for (const part of parts) {
      at = join(at, part);
      st = await lstat(at).catch(() => undefined);
      if (st === undefined) {
        found = 'absent';
        break;
      }
      if (!st.isDirectory()) {
        found = 'other';
        break;
      }
    }
    if (found === 'absent') continue;
    if (found === 'other' || st === undefined) return undefined;
    return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
  }
  return undefined;
}
