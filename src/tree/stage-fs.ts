/**
 * A file tree held in memory: what a build stage's root filesystem is while only COPY, ADD and
 * WORKDIR change it, and what the build context is once read. Paths are relative slash paths
 * without a leading `/` ('' is the root). File bodies are not held: a node says where its bytes are.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { KeelError } from '../errors.js';
import { SMALL_FILE, type FileMeta } from '../image/index.js';
import type { DeviceKind, Xattrs } from './entries.js';

export type FileSource =
  /**
   * A file on this machine; `fingerprint` identifies its version without reading it (size, times,
   * inode, mode). `scratch`: in a build's own scratch space (a RUN's output), so not worth a stat-cache entry.
   */
  | { readonly kind: 'host'; readonly path: string; readonly fingerprint: string; readonly scratch?: boolean }
  | { readonly kind: 'bytes'; readonly data: Buffer };

/** A node's metadata: mode, owner, time, and its extended attributes (values in base64) where it has some. */
export interface NodeMeta extends FileMeta {
  readonly xattrs?: Xattrs;
}

export type FsNode =
  | (NodeMeta & { readonly type: 'directory' })
  | (NodeMeta & { readonly type: 'file'; readonly size: number; readonly source: FileSource })
  | (NodeMeta & { readonly type: 'symlink'; readonly target: string })
  /** A character or block device, or a fifo (an image's /dev entries, a layer's mknod). */
  | (NodeMeta & { readonly type: 'device'; readonly device: DeviceKind; readonly major: number; readonly minor: number });

/** A file's owner, as numbers. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

const ROOT: FsNode = { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 };
const MAX_LINKS = 40;

/**
 * Clean a path given in a Dockerfile or a link target against `base` (both slash paths): the
 * result never climbs above the root, as path.Join("/", p) does in Go.
 */
export function cleanPath(p: string, base = ''): string {
  const joined = posix.normalize(posix.join('/', base, p));
  return joined === '/' ? '' : joined.replace(/^\/+/, '').replace(/\/+$/, '');
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/**
 * Resolve symlinks in `path` inside a root (a link can never lead out of it, as with a chroot):
 * `linkAt(p)` is the target of `p` when `p` is a symlink. `followLast`: also resolve the last
 * component. Returns the resolved path (which may not exist).
 */
export function resolveInRoot(path: string, followLast: boolean, linkAt: (path: string) => string | undefined): string {
  let links = 0;
  const walk = (p: string): string => {
    const parts = p === '' ? [] : p.split('/');
    let current = '';
    for (let i = 0; i < parts.length; i++) {
      const next = current === '' ? (parts[i] as string) : `${current}/${parts[i] as string}`;
      const target = i === parts.length - 1 && !followLast ? undefined : linkAt(next);
      if (target !== undefined) {
        if (++links > MAX_LINKS) throw new KeelError('E_BUILD_INPUT', `too many levels of symbolic links at /${p}`);
        current = walk(target.startsWith('/') ? cleanPath(target) : cleanPath(target, current));
      } else {
        current = next;
      }
    }
    return current;
  };
  return walk(path);
}

/**
 * A read-only tree a StageFs can sit on, read lazily folder by folder (a saved snapshot of a layer
 * chain's tree, snapshot.ts): only the folders a step looks into are ever read.
 */
export interface LowerTree {
  /** The node at `path` ('' is the root), or undefined. */
  get(path: string): FsNode | undefined;
  /** The names directly inside the folder at `path` (none for anything else). */
  children(path: string): readonly string[];
}

const under = (path: string, dir: string): boolean => dir === '' || path === dir || path.startsWith(`${dir}/`);

export class StageFs {
  private readonly nodes: Map<string, FsNode>;
  /** Over a lower tree: paths of it removed one by one, and folders removed with all below them. */
  private readonly hidden: Set<string>;
  private readonly goneTrees: Set<string>;

  constructor(nodes?: ReadonlyMap<string, FsNode>, private readonly lower?: LowerTree, removed?: { readonly hidden: ReadonlySet<string>; readonly goneTrees: ReadonlySet<string> }) {
    this.nodes = new Map(nodes ?? []);
    this.hidden = new Set(removed?.hidden ?? []);
    this.goneTrees = new Set(removed?.goneTrees ?? []);
  }

  /** A tree whose nodes are `lower`'s until changed; `lower` is never changed. */
  static over(lower: LowerTree): StageFs {
    return new StageFs(undefined, lower);
  }

  /** An independent copy (over the same lower tree, which neither changes). */
  clone(): StageFs {
    return new StageFs(this.nodes, this.lower, { hidden: this.hidden, goneTrees: this.goneTrees });
  }

  get(path: string): FsNode | undefined {
    const own = this.nodes.get(path);
    if (own !== undefined) return own;
    if (this.lower === undefined || this.removedFromLower(path)) return path === '' ? ROOT : undefined;
    return this.lower.get(path) ?? (path === '' ? ROOT : undefined);
  }

  set(path: string, node: FsNode): void {
    this.nodes.set(path, node);
  }

  delete(path: string): void {
    this.nodes.delete(path);
    if (this.lower !== undefined) this.hidden.add(path);
  }

  /** Remove `path` and everything below it. */
  deleteTree(path: string): void {
    for (const p of this.ownBelow(path)) this.nodes.delete(p);
    this.nodes.delete(path);
    if (this.lower !== undefined) this.goneTrees.add(path);
  }

  /** Every path below `dir` (not `dir` itself), sorted. */
  descendants(dir: string): string[] {
    const found = new Set(this.ownBelow(dir));
    if (this.lower !== undefined) {
      // the lower tree's folders, walked from `dir` down (a loop: a deep tree must not exhaust the stack)
      const lower = this.lower;
      const folders = [dir];
      for (let at = folders.pop(); at !== undefined; at = folders.pop()) {
        for (const name of lower.children(at)) {
          const p = at === '' ? name : `${at}/${name}`;
          if (this.inGoneTree(p)) continue;
          if (!this.hidden.has(p)) found.add(p); // a path removed alone leaves what is below it (as in a plain tree)
          if (lower.get(p)?.type === 'directory') folders.push(p);
        }
      }
    }
    return [...found].sort();
  }

  /** Every path of the tree except the root, sorted. */
  paths(): string[] {
    return this.descendants('');
  }

  /**
   * Resolve symlinks in `path` inside this tree (a link can never lead out of it, as with a chroot).
   * `followLast`: also resolve the last component. Returns the resolved path (which may not exist).
   */
  resolve(path: string, followLast: boolean): string {
    return resolveInRoot(path, followLast, (p) => {
      const node = this.get(p);
      return node?.type === 'symlink' ? node.target : undefined;
    });
  }

  /** The first `bytes` bytes of the file at `path` (already resolved), or undefined. */
  readHead(path: string, bytes: number): Promise<Buffer | undefined> {
    return readHeadOf(this.get(path), bytes);
  }

  /** A file's bytes (for /etc/passwd and the like), or undefined when it is not a regular file. */
  async readSmallFile(path: string): Promise<Buffer | undefined> {
    const node = this.get(this.resolve(path, true));
    if (node?.type !== 'file') return undefined;
    return node.source.kind === 'bytes' ? node.source.data : readFile(node.source.path);
  }

  /** This tree's own paths below `dir` (not `dir` itself). */
  private ownBelow(dir: string): string[] {
    const prefix = dir === '' ? '' : `${dir}/`;
    return [...this.nodes.keys()].filter((p) => p !== '' && p.startsWith(prefix));
  }

  /** Whether a removal hides the lower tree's `path` (itself, or a folder above it). */
  private removedFromLower(path: string): boolean {
    return this.hidden.has(path) || this.inGoneTree(path);
  }

  /** Whether `path` is in (or is) a folder removed with all below it. */
  private inGoneTree(path: string): boolean {
    for (const gone of this.goneTrees) if (under(path, gone)) return true;
    return false;
  }
}

/** The first bytes of a file node (for content sniffing), or undefined for anything but a file. */
export async function readHeadOf(node: FsNode | undefined, bytes: number): Promise<Buffer | undefined> {
  if (node?.type !== 'file') return undefined;
  if (node.source.kind === 'bytes') return node.source.data.subarray(0, bytes);
  const fh = await open(node.source.path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * A fresh copy of a file node's bytes: a Buffer for small files (read at once, synchronously: the
 * layer writer asks for them one by one, and one call beats four thread-pool round trips), a
 * stream for large ones.
 */
export function openSource(source: FileSource, size: number): Readable | Buffer | Promise<Buffer> {
  if (source.kind === 'bytes') return source.data;
  return size <= SMALL_FILE ? readFileSync(source.path) : createReadStream(source.path);
}
