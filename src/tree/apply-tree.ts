/**
 * Apply a tar stream to a stage's tree: ADD of a local archive, and the layers of a base image.
 * Every archive is treated as hostile (containerd's pkg/archive/tar.go does the same):
 * - names are cleaned under the destination, so `../x` and `/x` land inside it;
 * - parent folders are resolved through symlinks inside the tree only (StageFs.resolve never
 *   leaves it), so a link cannot redirect later entries outside;
 * - hard links must name a file already inside the tree;
 * - a whiteout can only remove a child of its own folder.
 * File bodies are written to `contentDir` under the entry's number, never under a name taken from
 * the archive, so nothing in the archive chooses where bytes land on this machine.
 */
import { createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { KeelError } from '../errors.js';
import { decompress, type Compression } from './decompress.js';
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
  const thisLayer = new Set<string>(); // paths this archive put in place (an opaque whiteout keeps them)
  const ex = extract();
  let n = 0;

  const ensureParents = (dir: string): string => {
    if (dir === '') return '';
    const resolved = target.resolve(dir, true);
    const node = target.get(resolved);
    if (node?.type === 'directory') return resolved;
    if (node !== undefined) fail(`archive entry under /${dir}: a file is in the way`);
    const parent = ensureParents(parentOf(resolved));
    const path = parent === '' ? baseName(resolved) : `${parent}/${baseName(resolved)}`;
    target.set(path, { type: 'directory', mode: 0o755, uid: opts.owner?.uid ?? 0, gid: opts.owner?.gid ?? 0, mtime: opts.createdMtime });
    written.add(path);
    return path;
  };

  const remove = (path: string): void => {
    for (const p of target.descendants(path)) {
      target.delete(p);
      written.add(p);
    }
    target.delete(path);
    written.add(path);
  };

  const place = (path: string, node: FsNode): void => {
    const existing = target.get(path);
    // a folder replaced by anything else loses its contents; a folder over a folder keeps them
    if (existing !== undefined && (existing.type !== 'directory' || node.type !== 'directory')) remove(path);
    target.set(path, node);
    written.add(path);
    thisLayer.add(path);
  };

  ex.on('entry', (header, stream, next) => {
    const handle = async (): Promise<void> => {
      const index = n++;
      const name = cleanPath(header.name);
      if (name === '' && header.type === 'directory') {
        stream.resume();
        return;
      }
      const rel = cleanPath(name, opts.dest);
      const base = baseName(rel);
      const parent = ensureParents(parentOf(rel));
      const path = parent === '' ? base : `${parent}/${base}`;

      if (opts.whiteouts && base.startsWith('.wh.')) {
        stream.resume();
        if (base === '.wh..wh..opq') {
          for (const child of target.descendants(parent)) if (!thisLayer.has(child)) remove(child);
          return;
        }
        const victim = base.slice(4);
        if (victim === '' || victim === '.' || victim === '..' || victim.includes('/')) fail(`invalid whiteout ${JSON.stringify(header.name)}`);
        const gone = parent === '' ? victim : `${parent}/${victim}`;
        if (target.get(gone) !== undefined) remove(gone);
        return;
      }

      const owner = opts.owner ?? { uid: header.uid ?? 0, gid: header.gid ?? 0 };
      const meta = {
        mode: (header.mode ?? 0o644) & 0o7777,
        uid: owner.uid,
        gid: owner.gid,
        mtime: (opts.mtime ?? ((m: number) => m))(Math.floor((header.mtime?.getTime() ?? 0) / 1000)),
      };
      switch (header.type) {
        case 'directory':
          stream.resume();
          place(path, { type: 'directory', ...meta });
          return;
        case 'symlink':
          stream.resume();
          // a symlink's mode is always 0777 on Linux (there is no lchmod), whatever the archive says
          place(path, { type: 'symlink', ...meta, mode: 0o777, target: header.linkname ?? '' });
          return;
        case 'link': {
          stream.resume();
          const linked = target.resolve(cleanPath(cleanPath(header.linkname ?? ''), opts.dest), true);
          const node = target.get(linked);
          if (node?.type !== 'file') fail(`hard link ${JSON.stringify(header.name)} points to ${JSON.stringify(header.linkname)}, which is not a file in the archive`);
          place(path, { ...(node as Extract<FsNode, { type: 'file' }>), ...meta });
          return;
        }
        case 'file':
        case 'contiguous-file': {
          const body = join(opts.contentDir, String(index));
          const size = header.size ?? 0;
          const have = await stat(body).catch(() => undefined);
          if (have?.size === size) stream.resume(); // extracted by an earlier build
          else {
            // written beside and renamed, so a concurrent build never reads a half-written body
            const tmp = `${body}.${randomBytes(6).toString('hex')}.tmp`;
            try {
              await pipeline(stream, createWriteStream(tmp));
              await rename(tmp, body);
            } finally {
              await rm(tmp, { force: true });
            }
          }
          place(path, { type: 'file', ...meta, size, source: { kind: 'host', path: body, fingerprint: `extract:${body}:${size}` } });
          return;
        }
        default:
          // devices, fifos: not representable in a keel tree yet; skipped (an image using them needs RUN anyway)
          stream.resume();
      }
    };
    handle().then(() => next(), (e: unknown) => next(e as Error));
  });

  const input = decompress(source, compression);
  try {
    await pipeline(input, ex as unknown as NodeJS.WritableStream);
  } catch (e) {
    // a truncated or corrupt archive, or a decoder's complaint: a typed error, not a crash
    if (e instanceof KeelError) throw e;
    throw new KeelError('E_BUILD_INPUT', `cannot extract the archive (${compression === 'none' ? 'tar' : compression}): ${(e as Error).message}`, { cause: e });
  }
  return [...written].sort();
}
