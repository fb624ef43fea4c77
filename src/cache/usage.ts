/**
 * What a cache folder holds, as units garbage collection can weigh and remove one by one: blobs,
 * layer folders (RUN's overlay lowers), extracted bodies and saved trees (per layer), RUN cache
 * mounts, partial downloads, and leftovers (the trash, abandoned temporary folders). Each has a
 * size and a last use: builds mark what they used when they end (markUsed), so the least
 * recently used go first. Removing any one unit never makes a build wrong: a step whose blob is
 * gone misses, a folder or tree that is gone is made again from its blob.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { lstat, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hexOf, type Digest } from '../image/index.js';

export type UnitKind = 'blob' | 'layer folder' | 'extracted' | 'cache mount' | 'download' | 'leftover';

export interface CacheUnit {
  readonly kind: UnitKind;
  /** The path below the cache folder (`blobs/sha256/<hex>`, `layers/<hex>`). */
  readonly path: string;
  readonly size: number;
  /** Milliseconds since the epoch. */
  readonly lastUsed: number;
}

/** The folders of layer folders: as root, and in a user namespace (runtime/sandbox.ts). */
export const LAYER_ROOTS = ['layers', 'layers-userns'] as const;

/**
 * A folder's last use is kept in a mark beside it (`<folder>.used`): a layer folder's own times
 * are part of what overlayfs shows, and touching a folder would make its size be measured again.
 */
const usedMark = (dir: string): string => `${dir}.used`;

/**
 * Sizes of folders that do not change once made (layer folders) or change rarely, by path and
 * mtime, in `<cacheDir>/gc-sizes.json`: a walk of a big folder is paid once, not at every collection.
 */
class FolderSizes {
  private readonly file: string;
  private known: Record<string, { mtime: number; size: number }> = {};
  private changed = false;

  constructor(private readonly root: string) {
    this.file = join(root, 'gc-sizes.json');
  }

  async load(): Promise<void> {
    this.known = await readFile(this.file, 'utf8').then((t) => JSON.parse(t) as typeof this.known, () => ({}));
  }

  async size(rel: string, mtime: number): Promise<number> {
    const k = this.known[rel];
    if (k !== undefined && k.mtime === mtime) return k.size;
    const size = await du(join(this.root, rel));
    this.known[rel] = { mtime, size };
    this.changed = true;
    return size;
  }

  async save(present: ReadonlySet<string>): Promise<void> {
    for (const k of Object.keys(this.known)) {
      if (!present.has(k)) {
        delete this.known[k];
        this.changed = true;
      }
    }
    if (this.changed) await writeFile(this.file, JSON.stringify(this.known)).catch(() => undefined);
  }
}

/** How many entries du() looks at between two turns of the event loop. */
const DU_SLICE = 512;

/**
 * Bytes a tree takes (its files' sizes, and a block per folder), without following links. One
 * synchronous call per entry, in slices with the event loop let run between them: a thread-pool
 * round trip per entry made a 300-file layer folder take 60-120 ms to measure, and a collection
 * measures every folder made since the last one (a minute of edit-and-build: seconds).
 */
export async function du(path: string): Promise<number> {
  let total = 0;
  let slice = 0;
  const pending = [path];
  for (let p = pending.pop(); p !== undefined; p = pending.pop()) {
    if (++slice === DU_SLICE) {
      slice = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const st = lstatIfThere(p);
    if (st === undefined) continue;
    if (!st.isDirectory()) {
      total += st.size;
      continue;
    }
    total += 4096;
    for (const name of readdirIfThere(p)) pending.push(join(p, name));
  }
  return total;
}

/** A path's lstat, or undefined when it went away meanwhile (a collection runs beside builds). */
function lstatIfThere(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function readdirIfThere(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Every unit of the cache folder at `root`. */
export async function cacheUnits(root: string): Promise<CacheUnit[]> {
  const units: CacheUnit[] = [];
  const sizes = new FolderSizes(root);
  await sizes.load();
  const seen = new Set<string>();
  /**
   * A folder (or file) unit. Its size is measured again when `version` changes: a layer folder's
   * never does (it is not changed once made), an extract folder's mtime moves when a tree is saved
   * in it, a cache mount's contents change with each RUN that uses it (its used mark's time).
   */
  const folder = async (kind: UnitKind, rel: string, versionBy: 'mtime' | 'used' = 'mtime'): Promise<void> => {
    const st = await lstat(join(root, rel)).catch(() => undefined);
    if (st === undefined) return;
    seen.add(rel);
    const used = await lstat(join(root, usedMark(rel))).then((u) => u.mtimeMs, () => undefined);
    const version = versionBy === 'used' ? Math.max(used ?? 0, st.mtimeMs) : st.mtimeMs;
    units.push({ kind, path: rel, size: st.isDirectory() ? await sizes.size(rel, version) : st.size, lastUsed: Math.max(st.mtimeMs, used ?? 0) });
  };
  const isMark = (name: string): boolean => name.endsWith('.used') || name.endsWith('.opaque-root');

  for (const name of await entries(join(root, 'blobs', 'sha256'))) {
    const rel = join('blobs', 'sha256', name);
    const st = await lstat(join(root, rel)).catch(() => undefined);
    if (st === undefined) continue;
    // a temporary file of a write that never finished is a leftover
    units.push({ kind: HEX64.test(name) ? 'blob' : 'leftover', path: rel, size: st.size, lastUsed: st.mtimeMs });
  }
  for (const layers of LAYER_ROOTS) {
    for (const name of await entries(join(root, layers))) {
      const rel = join(layers, name);
      if (HEX64.test(name)) await folder('layer folder', rel);
      else if (name.endsWith('.tmp')) await folder('leftover', rel); // an extraction a killed build abandoned
    }
  }
  for (const name of await entries(join(root, 'extract'))) {
    if (!isMark(name)) await folder(HEX64.test(name) ? 'extracted' : 'leftover', join('extract', name));
  }
  for (const name of await entries(join(root, 'mounts', 'cache'))) {
    if (!isMark(name)) await folder(name.endsWith('.tmp') ? 'leftover' : 'cache mount', join('mounts', 'cache', name), 'used');
  }
  for (const name of await entries(join(root, 'trash'))) await folder('leftover', join('trash', name));
  for (const name of await entries(join(root, 'ingest'))) {
    // what a broken download kept, for the next one to resume from
    if (name.endsWith('.partial')) await folder('download', join('ingest', name));
  }
  await sizes.save(seen);
  return units;
}

/** What one build used, to mark as used now. */
export interface Used {
  readonly blobs: readonly Digest[];
  /** Layers by diffID: their folders and extracted bodies. */
  readonly layers: readonly Digest[];
}

/** Mark a folder used now, if it is there (its mark beside it). */
export async function markFolderUsed(dir: string, now: Date = new Date()): Promise<void> {
  if ((await lstat(dir).catch(() => undefined)) === undefined) return;
  await writeFile(usedMark(dir), '').catch(() => undefined);
  await utimes(usedMark(dir), now, now).catch(() => undefined);
}

/** Mark what a build used as used now: a blob's own time, the marks beside its layers' folders. */
export async function markUsed(root: string, used: Used, now: Date = new Date()): Promise<void> {
  const marks: Array<Promise<void>> = [];
  for (const d of new Set(used.blobs)) marks.push(utimes(join(root, 'blobs', 'sha256', hexOf(d)), now, now).catch(() => undefined));
  for (const d of new Set(used.layers)) {
    const hex = hexOf(d);
    marks.push(markFolderUsed(join(root, 'extract', hex), now));
    for (const layers of LAYER_ROOTS) marks.push(markFolderUsed(join(root, layers, hex), now));
  }
  await Promise.all(marks);
}

/** The marks and side files that go with a unit when it is removed. */
export const companions = (rel: string): string[] => [usedMark(rel), `${rel}.opaque-root`];
