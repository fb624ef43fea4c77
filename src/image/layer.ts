/**
 * Deterministic layer tars (SPEC.md section 5), written the way containerd's ChangeWriter writes
 * them: entries sorted with parents before children, directories ending in `/`, numeric owners
 * only (no uname/gname), every mtime given by the caller, deletions as `.wh.NAME` files. The tar
 * streams through two hashes and gzip into the blob store in one pass: diffID (uncompressed) and
 * digest (compressed) come out together.
 */
import { PassThrough, Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlib } from 'node:zlib';
import type { BlobWriter } from './content.js';
import { KeelError } from '../errors.js';
import { HashCounter, type Digest } from './digest.js';
import { MEDIA_TYPES, type LayerMediaType } from './media-types.js';
import { ParallelGzip } from './parallel-gzip.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from './tar-writer.js';
import { ZstdFrames } from './zstd.js';

/** What a file system entry carries besides its path and content. */
export interface FileMeta {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
}

interface EntryBase extends FileMeta {
  /** Relative to the root, no leading `/`, no trailing `/`, no `.` or `..` segments. */
  readonly path: string;
  /** Extended attributes (values in base64). */
  readonly xattrs?: Readonly<Record<string, string>>;
}

export type LayerEntry =
  | (EntryBase & { readonly type: 'directory' })
  | (EntryBase & {
      readonly type: 'file';
      readonly size: number;
      /** A fresh body each call; small files may come as a promised Buffer (they are then read ahead). */
      readonly content: () => Readable | Buffer | Promise<Buffer>;
    })
  | (EntryBase & { readonly type: 'symlink'; readonly target: string })
  | (EntryBase & { readonly type: 'hardlink'; readonly target: string })
  | (EntryBase & { readonly type: 'device'; readonly device: 'char' | 'block' | 'fifo'; readonly major: number; readonly minor: number })
  | { readonly type: 'whiteout'; readonly path: string };

export type Compression = 'gzip' | 'zstd' | 'none';

export interface Layer {
  readonly mediaType: LayerMediaType;
  /** sha256 of the blob as stored (compressed). */
  readonly digest: Digest;
  /** sha256 of the uncompressed tar. */
  readonly diffId: Digest;
  readonly size: number;
}

/**
 * A layer whose diffID is known but whose blob (compression, digest, size) is still being made,
 * beside the steps after it (go-containerregistry's lazy layers, BuildKit's lazy blobs): what a
 * RUN on it needs (its folder, named by diffID) is there already. `stored` resolves to the layer
 * once its blob is in the store; it rejects when the blob could not be made.
 */
export interface PendingLayer {
  readonly diffId: Digest;
  readonly stored: Promise<Layer>;
}

/** A layer of a stage's chain: stored, or still being stored. */
export type ChainLayer = Layer | PendingLayer;

export const isPending = (layer: ChainLayer): layer is PendingLayer => 'stored' in layer;

/** The layer once its blob is stored. */
export const storedLayer = (layer: ChainLayer): Promise<Layer> => (isPending(layer) ? layer.stored : Promise.resolve(layer));

/** Every layer of a chain once stored, in order. */
export const storedLayers = (layers: readonly ChainLayer[]): Promise<Layer[]> => Promise.all(layers.map(storedLayer));

/** Order entries as a depth-first walk with sorted names does: `a`, `a/b`, `a.txt`. */
export function compareLayerPaths(a: string, b: string): number {
  // the same as comparing the `/`-separated names one by one, without splitting (layers can have
  // hundreds of thousands of entries): a `/` ends a name, so it sorts before every other character
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const p = a.charCodeAt(i);
    const q = b.charCodeAt(i);
    if (p !== q) return (p === 0x2f ? -1 : p) < (q === 0x2f ? -1 : q) ? -1 : 1;
  }
  return a.length - b.length;
}


/** The entry's path in the tar (without a directory's trailing `/`): `.wh.NAME` for a deletion. */
function tarPath(e: LayerEntry): string {
  if (e.type !== 'whiteout') return e.path;
  const slash = e.path.lastIndexOf('/');
  return slash < 0 ? `.wh.${e.path}` : `${e.path.slice(0, slash)}/.wh.${e.path.slice(slash + 1)}`;
}

function headerOf(e: LayerEntry): TarHeader {
  if (e.type === 'whiteout') return { name: tarPath(e), type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0 };
  const common = { mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: e.mtime, size: 0, ...(e.xattrs === undefined ? {} : { xattrs: e.xattrs }) };
  switch (e.type) {
    case 'directory':
      return { ...common, name: `${e.path}/`, type: 'directory' };
    case 'file':
      return { ...common, name: e.path, type: 'file', size: e.size };
    case 'symlink':
      return { ...common, name: e.path, type: 'symlink', linkname: e.target };
    case 'hardlink':
      return { ...common, name: e.path, type: 'link', linkname: e.target };
    case 'device':
      return { ...common, name: e.path, type: e.device, devmajor: e.major, devminor: e.minor };
  }
}

/** Write the entries, sorted, as a tar stream. Entry contents are streamed one at a time. */
export function writeLayerTar(entries: readonly LayerEntry[]): Readable {
  // sorted by the name written to the tar, so whiteouts (`.wh.x`) come before their siblings
  const sorted = entries
    .map((e) => ({ e, key: tarPath(e) }))
    .sort((a, b) => compareLayerPaths(a.key, b.key));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.key === sorted[i - 1]?.key) {
      throw new KeelError('E_INTERNAL', `duplicate layer entry ${JSON.stringify(sorted[i]?.key)}`);
    }
  }
  return Readable.from(tarChunks(sorted.map((x) => x.e)), { objectMode: false });
}

/**
 * Files up to this size should give their body as a Buffer or a promised Buffer: the writer reads
 * them ahead of its position (one open+read per file is latency-bound). Larger ones are streamed.
 */
export const SMALL_FILE = 1 << 20;
/** How far ahead small bodies are read. */
const READ_AHEAD_BYTES = 16 << 20;
const READ_AHEAD_FILES = 256;
/** Headers and small bodies are handed on in pieces of about this size (fewer, larger stream writes). */
const CHUNK = 1 << 20;

/** The tar's bytes: headers and small bodies gathered into chunks, large bodies streamed through. */
async function* tarChunks(entries: readonly LayerEntry[]): AsyncGenerator<Buffer> {
  const ahead = new Map<number, Promise<Readable | Buffer>>();
  let next = 0;
  let aheadBytes = 0;
  const readAhead = (): void => {
    while (next < entries.length && ahead.size < READ_AHEAD_FILES && aheadBytes < READ_AHEAD_BYTES) {
      const e = entries[next] as LayerEntry;
      if (e.type === 'file' && e.size > 0 && e.size <= SMALL_FILE) {
        ahead.set(next, Promise.resolve(e.content()));
        aheadBytes += e.size;
      }
      next++;
    }
  };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const add = (b: Buffer): void => {
    pending.push(b);
    pendingBytes += b.length;
  };
  const take = (): Buffer => {
    const out = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for (const [i, e] of entries.entries()) {
    readAhead();
    for (const b of encodeHeader(headerOf(e))) add(b);
    const size = e.type === 'file' ? e.size : 0;
    if (e.type === 'file' && size > 0) {
      let content: Readable | Buffer;
      if (ahead.has(i)) {
        content = await (ahead.get(i) as Promise<Readable | Buffer>);
        ahead.delete(i);
        aheadBytes -= size;
      } else {
        const body = e.content();
        content = body instanceof Promise ? await body : body;
      }
      if (Buffer.isBuffer(content)) {
        if (content.length !== size) throw new KeelError('E_BUILD_INPUT', `${e.path} changed size while it was being read`);
        add(content);
      } else {
        if (pendingBytes > 0) yield take();
        let seen = 0;
        for await (const chunk of content as AsyncIterable<Buffer>) {
          seen += chunk.length;
          if (seen > size) break;
          yield chunk;
        }
        if (seen !== size) {
          if (!content.destroyed) content.destroy();
          throw new KeelError('E_BUILD_INPUT', `${e.path} changed size while it was being read`);
        }
      }
      add(padding(size));
    }
    if (pendingBytes >= CHUNK) yield take();
  }
  add(END_OF_ARCHIVE);
  yield take();
}

/** The diffID of the layer of `entries`: the sha256 of its tar, written and hashed, stored nowhere. */
export async function layerDiffId(entries: readonly LayerEntry[], signal?: AbortSignal): Promise<Digest> {
  const diff = new HashCounter();
  await pipeline([writeLayerTar(entries), diff, new Writable({ write: (_chunk, _enc, done) => done() })], signal === undefined ? {} : { signal });
  return diff.digest();
}

export interface StoreLayerOptions {
  readonly compression?: Compression;
  /** gzip's 0-9, zstd's 1-22; each one's default when not given. */
  readonly level?: number;
  readonly signal?: AbortSignal;
  /**
   * The diffID an earlier pass over the same entries found (layerDiffId): a tar that differs (a
   * file changed in between) is refused, so that a folder named by that diffID is never wrong.
   */
  readonly diffId?: Digest;
}

/** Stream a layer into the blob store: tar -> diffID hash -> gzip -> digest hash -> blob. */
export async function storeLayer(entries: readonly LayerEntry[], store: BlobWriter, options: StoreLayerOptions = {}): Promise<Layer> {
  const compression = options.compression ?? 'gzip';
  const diff = new HashCounter();
  const tar = writeLayerTar(entries);
  const compressed: Transform[] =
    compression === 'gzip' ? [new ParallelGzip(options.level ?? zlib.Z_DEFAULT_COMPRESSION)] : compression === 'zstd' ? [new ZstdFrames(options.level)] : [];
  const out = new PassThrough();
  const stored = store.put(out, undefined, options.signal);
  // a store that fails at once (a cache folder it cannot write, a full disk) stops the writing
  // side too, and its failure is handled from the start: never an unhandled rejection, never a hang
  stored.catch((e: unknown) => out.destroy(e as Error));
  try {
    await pipeline([tar, diff, ...compressed, out], options.signal === undefined ? {} : { signal: options.signal });
  } catch (e) {
    await stored.catch(() => undefined); // the pipeline's failure is the store's, or the cause of it
    throw e;
  }
  const blob = await stored;
  if (options.diffId !== undefined && diff.digest() !== options.diffId) {
    throw new KeelError('E_BUILD_INPUT', `the files of a layer changed while it was written (diffID ${options.diffId}, then ${diff.digest()})`);
  }
  return {
    mediaType: compression === 'gzip' ? MEDIA_TYPES.layerGzip : compression === 'zstd' ? MEDIA_TYPES.layerZstd : MEDIA_TYPES.layer,
    digest: blob.digest,
    diffId: diff.digest(),
    size: blob.size,
  };
}
