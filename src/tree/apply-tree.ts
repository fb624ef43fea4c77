/**
 * Apply a tar stream to a stage's tree: the layers of a base image, and an archive ADD unpacks.
 * Every entry passes the rules of entries.ts, the same ones the layer-folder extractor
 * (snapshot/layer-dirs.ts) applies, so the tree is what overlayfs shows of the same layers. Then:
 * - a layer's parents are taken literally, as overlayfs stacks folders: a lower layer's non-folder
 *   in the way becomes a folder, a lower folder is kept as it is;
 * - an ADD archive's parents are resolved through symlinks inside the tree only (StageFs.resolve
 *   never leaves it), as BuildKit's unpack resolves them inside the destination.
 * File bodies are written to `contentDir` under the entry's number, never under a name taken from
 * the archive, so nothing in the archive chooses where bytes land on this machine.
 */
import { createWriteStream, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KeelError } from '../errors.js';
import { readTar, SMALL_FILE, type TarEntry } from '../image/index.js';
import { decompress, type Compression, type UnpackLimits } from './decompress.js';
import { ArchiveRules, IMPLICIT_FOLDER, type ArchiveEntry } from './entries.js';
import { baseName, cleanPath, parentOf, type FsNode, type Owner, type StageFs } from './stage-fs.js';

export interface ApplyOptions {
  /** Tree path the archive's root lands on ('' for image layers). */
  readonly dest: string;
  /** Host folder for file bodies (created if missing; bodies already there are reused). */
  readonly contentDir: string;
  /** OCI layer rules: `.wh.` files delete, `.wh..wh..opq` empties a folder of what lower layers put there. */
  readonly whiteouts: boolean;
  /** ADD --chown: every entry gets this owner. */
  readonly owner?: Owner;
  /** The mtime an entry gets from its own. */
  readonly mtime?: (source: number) => number;
  /** Mode and owner of folders made for parents the archive does not list. */
  readonly createdMtime: number;
  /** How much the archive may unpack to. @default DEFAULT_UNPACK_LIMITS */
  readonly limits?: UnpackLimits;
}


export type { Compression };

/** What kind of archive a file starts with, or undefined when it is not a tar (BuildKit's isArchivePath). */
export function sniffArchive(head: Buffer): Compression | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return isTarHeader(head) ? 'none' : undefined;
}

/** A 512-byte block whose checksum field matches its bytes: the start of a tar. */
function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const field = block.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return sum === parseInt(field, 8);
}

const fail = (message: string): never => {
  throw new KeelError('E_BUILD_INPUT', message);
};

/** Apply the archive; returns every tree path it wrote or removed, for the layer. */
export async function applyTar(target: StageFs, source: Readable, compression: Compression, opts: ApplyOptions): Promise<string[]> {
  await mkdir(opts.contentDir, { recursive: true });
  const written = new Set<string>();
  const rules = new ArchiveRules(opts.whiteouts ? 'layer' : 'archive');
  /** Archive path -> tree path of what this archive put in place (an opaque whiteout keeps them; hard links name them). */
  const placed = new Map<string, string>();
  const thisLayer = new Set<string>();
  let n = 0;

  const remove = (path: string): void => {
    resolvedDirs.clear();
    for (const p of target.descendants(path)) {
      target.delete(p);
      written.add(p);
    }
    target.delete(path);
    written.add(path);
  };

  const folder = (path: string): FsNode => ({
    type: 'directory', ...IMPLICIT_FOLDER, uid: opts.owner?.uid ?? 0, gid: opts.owner?.gid ?? 0, mtime: opts.createdMtime,
  });

  /** A layer's parent folders, literally: a non-folder in the way (from a lower layer) becomes a folder. */
  const layerParents = (dir: string): string => {
    // up to the nearest folder (a folder's own parents are folders), then down, making what is missing
    const missing: string[] = [];
    for (let p = dir; p !== '' && target.get(p)?.type !== 'directory'; p = parentOf(p)) missing.push(p);
    for (const p of missing.reverse()) {
      if (target.get(p) !== undefined) remove(p);
      target.set(p, folder(p));
      written.add(p);
    }
    return dir;
  };

  /**
   * Folders this archive resolved (tree path -> where it leads), so that a deep archive costs a
   * lookup per entry, not a walk of every level; forgotten whenever a non-folder is put anywhere.
   */
  const resolvedDirs = new Map<string, string>();

  /** An archive's parent folders, through symlinks inside the tree. */
  const archiveParents = (dir: string): string => {
    if (dir === '') return '';
    const known = resolvedDirs.get(dir);
    if (known !== undefined) return known;
    // up to the nearest existing folder, then down, making what is missing
    const missing: string[] = [];
    let at = dir;
    let base = '';
    for (; at !== ''; at = parentOf(at)) {
      const resolved = resolvedDirs.get(at) ?? target.resolve(at, true);
      const node = target.get(resolved);
      if (node?.type === 'directory') {
        base = resolved;
        break;
      }
      if (node !== undefined) fail(`archive entry under /${at}: a file is in the way`);
      missing.push(baseName(resolved));
      // a missing name resolves to where it would be: its parent's resolution continues the walk
      at = resolved;
    }
    let path = base;
    for (const name of missing.reverse()) {
      path = path === '' ? name : `${path}/${name}`;
      target.set(path, folder(path));
      written.add(path);
    }
    resolvedDirs.set(dir, path);
    return path;
  };

  const place = (archivePath: string, path: string, node: FsNode): void => {
    const existing = target.get(path);
    // a folder replaced by anything else loses its contents; a folder over a folder keeps them
    if (existing !== undefined && (existing.type !== 'directory' || node.type !== 'directory')) remove(path);
    if (node.type !== 'directory') resolvedDirs.clear(); // a symlink may now lead a known path elsewhere
    target.set(path, node);
    written.add(path);
    thisLayer.add(path);
    placed.set(archivePath, path);
  };

  const treePath = (e: Extract<ArchiveEntry, { path: string }>): string => {
    const rel = cleanPath(e.path, opts.dest);
    const parent = opts.whiteouts ? layerParents(parentOf(rel)) : archiveParents(parentOf(rel));
    return parent === '' ? baseName(rel) : `${parent}/${baseName(rel)}`;
  };

  /** One entry; a body it leaves unread is skipped by the reader. */
  const handle = async (entry: TarEntry): Promise<void> => {
      const header = entry.header;
      const index = n++;
      const e = rules.read(header);
      const owned = <M extends { uid: number; gid: number; mtime: number }>(m: M): M => ({
        ...m, ...(opts.owner ?? {}), mtime: (opts.mtime ?? ((x: number) => x))(m.mtime),
      });
      switch (e.kind) {
        case 'root':
          return;
        case 'opaque': {
          const dir = opts.whiteouts ? layerParents(cleanPath(e.dir, opts.dest)) : e.dir;
          for (const child of target.descendants(dir)) if (!thisLayer.has(child)) remove(child);
          return;
        }
        case 'whiteout': {
          const gone = treePath(e);
          if (target.get(gone) !== undefined) remove(gone);
          return;
        }
        case 'directory':
          place(e.path, treePath(e), { type: 'directory', ...owned(e.meta), ...xattrs(e) });
          return;
        case 'symlink':
          place(e.path, treePath(e), { type: 'symlink', ...owned(e.meta), target: e.target, ...xattrs(e) });
          return;
        case 'device':
          place(e.path, treePath(e), { type: 'device', ...owned(e.meta), device: e.device, major: e.major, minor: e.minor, ...xattrs(e) });
          return;
        case 'hardlink': {
          const linked = target.get(placed.get(e.target) ?? '');
          if (linked?.type !== 'file') fail(`hard link ${JSON.stringify(header.name)} points to ${JSON.stringify(header.linkname)}, which is no longer a file`);
          // a hard link is the same inode: the target's mode, owner and time, whatever its own header says
          place(e.path, treePath(e), linked as Extract<FsNode, { type: 'file' }>);
          return;
        }
        case 'file': {
          const body = join(opts.contentDir, String(index));
          // metadata and small bodies by synchronous calls: a thread-pool round trip each costs more
          // than the call (a base image is thousands of small files)
          const have = statSync(body, { throwIfNoEntry: false });
          if (have?.size !== e.size) { // else extracted by an earlier build
            // written beside and renamed, so a concurrent build never reads a half-written body
            const tmp = `${body}.${randomBytes(6).toString('hex')}.tmp`;
            try {
              if (e.size <= SMALL_FILE) writeFileSync(tmp, await entry.bytes());
              else await pipeline(entry.body, createWriteStream(tmp));
              renameSync(tmp, body);
            } finally {
              rmSync(tmp, { force: true });
            }
          }
          place(e.path, treePath(e), { type: 'file', ...owned(e.meta), size: e.size, source: { kind: 'host', path: body, fingerprint: `extract:${body}:${e.size}` }, ...xattrs(e) });
          return;
        }
      }
  };

  const input = decompress(source, compression, opts.limits);
  try {
    for await (const entry of readTar(input)) await handle(entry);
  } catch (e) {
    // a truncated or corrupt archive, or a decoder's complaint: a typed error, not a crash
    if (e instanceof KeelError) throw e;
    throw new KeelError('E_BUILD_INPUT', `cannot extract the archive (${compression === 'none' ? 'tar' : compression}): ${(e as Error).message}`, { cause: e });
  } finally {
    input.destroy(); // an entry refused part way: the decoder stops reading
  }
  return [...written].sort();
}

const xattrs = (e: { readonly xattrs?: FsNode['xattrs'] }): { xattrs?: FsNode['xattrs'] } => (e.xattrs === undefined ? {} : { xattrs: e.xattrs });
