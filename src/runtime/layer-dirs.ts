/**
 * Layers as overlayfs lower folders (SPEC.md section 7): each layer is extracted once into
 * `<cacheDir>/layers/<diffID hex>/` in the form overlayfs reads, and every later RUN on it, in this
 * build or a later one, stacks the folders instead of writing the tree out again. As containerd's
 * overlay snapshotter and its archive applier (pkg/archive/tar.go) lay a layer out:
 * - a `.wh.NAME` entry becomes a 0/0 character device NAME (overlayfs' whiteout);
 * - `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its folder (`user.overlay.opaque` in a user
 *   namespace, userns.ts);
 * - modes, owners, mtimes, hard links, symlinks, device files, fifos and extended attributes
 *   (`security.capability` among them) are kept.
 * The archive is hostile: names are cleaned into the folder, an entry never goes through a symlink
 * the archive made (a non-folder parent fails), and a hard link must name a file of this layer.
 * Extraction goes to a temporary folder renamed into place, so a half-extracted layer is never used.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, chown, lchown, link, lutimes, mkdir, rename, rm, stat, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type Header } from 'tar-stream';
import { KeelError } from '../errors.js';
import { layerCompression, type BlobReader, type Layer } from '../image/index.js';
import { command } from './commands.js';
import { baseName, cleanPath, decompress, parentOf, type Compression } from '../tree/index.js';
import type { Sandbox } from './sandbox.js';

type OverlayXattr = Sandbox['overlayXattr'];

/** The folder a layer is (or will be) extracted to. */
export const layerDirPath = (root: string, layer: Pick<Layer, 'diffId'>): string => join(root, layer.diffId.slice('sha256:'.length));

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** The layer's folder, extracted from its blob first when no build has done it yet. */
export async function ensureLayerDir(root: string, store: BlobReader, layer: Layer, xattrPrefix: OverlayXattr, signal?: AbortSignal): Promise<string> {
  const dir = layerDirPath(root, layer);
  if (await exists(dir)) return dir;
  const tmp = `${dir}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const compression: Compression = layerCompression(layer.mediaType);
    await extractLayerDir(decompress(await store.open(layer.digest), compression), tmp, xattrPrefix, signal);
    await commitLayerDir(tmp, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** Move a finished folder into place as a layer's folder; when one is there already (same diffID), keep that. */
export async function commitLayerDir(from: string, dir: string): Promise<void> {
  if (await exists(dir)) return;
  try {
    await rename(from, dir);
  } catch (e) {
    // another build put the same layer there first: same diffID, same contents
    if (!(await exists(dir))) throw e;
  }
}

type Special = readonly [path: string, kind: 'c' | 'b' | 'p', major: number, minor: number];

/** Extract an uncompressed layer tar into `dir` (which must not exist) in overlayfs' form. */
export async function extractLayerDir(tar: Readable, dir: string, xattrPrefix: OverlayXattr = 'trusted.overlay.', signal?: AbortSignal): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const kinds = new Map<string, 'directory' | 'file' | 'other'>([['', 'directory']]);
  // owner, mode and times set last, deepest first: folders (writing their children changes their
  // times) and device nodes (made after the walk); by tree path
  const late = new Map<string, Header>();
  const specials = new Map<string, Special>();
  const opaque: string[] = [];
  const xattrs: Array<[string, string, Buffer]> = [];
  const fail = (message: string): never => {
    throw new KeelError('E_BUILD_INPUT', `layer: ${message}`);
  };

  const parentFolder = async (path: string): Promise<void> => {
    const parent = parentOf(path);
    const kind = kinds.get(parent);
    if (kind === 'directory') return;
    if (kind !== undefined) fail(`${JSON.stringify(path)} is under a non-folder in the same layer`);
    await parentFolder(parent);
    await mkdir(join(dir, parent), { mode: 0o755 });
    kinds.set(parent, 'directory');
  };

  const clear = async (path: string): Promise<void> => {
    if (!kinds.has(path)) return;
    await rm(join(dir, path), { recursive: true, force: true });
    const under = (k: string): boolean => k === path || k.startsWith(`${path}/`);
    for (const k of [...kinds.keys()]) if (under(k)) kinds.delete(k);
    for (const k of [...late.keys()]) if (under(k)) late.delete(k);
    for (const k of [...specials.keys()]) if (under(k)) specials.delete(k);
  };

  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    const handle = async (): Promise<void> => {
      signal?.throwIfAborted();
      const path = cleanPath(header.name);
      if (path === '') {
        stream.resume();
        if (header.type === 'directory') late.set('', header);
        return;
      }
      await parentFolder(path);
      const host = join(dir, path);
      const name = baseName(path);
      if (name.startsWith('.wh.')) {
        stream.resume();
        if (name === '.wh..wh..opq') {
          opaque.push(parentOf(path));
          return;
        }
        const victim = name.slice(4);
        if (victim === '' || victim === '.' || victim === '..') fail(`invalid whiteout ${JSON.stringify(header.name)}`);
        const gone = parentOf(path) === '' ? victim : `${parentOf(path)}/${victim}`;
        await clear(gone);
        kinds.set(gone, 'other');
        specials.set(gone, [join(dir, gone), 'c', 0, 0]);
        return;
      }
      if (header.type !== 'directory' || kinds.get(path) !== 'directory') await clear(path);
      const mode = (header.mode ?? 0o644) & 0o7777;
      const mtime = (header.mtime?.getTime() ?? 0) / 1000;
      for (const [key, value] of Object.entries(header.pax ?? {})) {
        if (key.startsWith('SCHILY.xattr.')) xattrs.push([host, key.slice('SCHILY.xattr.'.length), Buffer.from(value, 'latin1')]);
      }
      switch (header.type) {
        case 'directory':
          stream.resume();
          if (kinds.get(path) !== 'directory') await mkdir(host, { mode: 0o700 });
          kinds.set(path, 'directory');
          late.set(path, header);
          return;
        case 'file':
        case 'contiguous-file':
          await pipeline(stream, createWriteStream(host, { mode: 0o600 }));
          kinds.set(path, 'file');
          await chown(host, header.uid ?? 0, header.gid ?? 0);
          await chmod(host, mode);
          await utimes(host, mtime, mtime);
          return;
        case 'symlink':
          stream.resume();
          await symlink(header.linkname ?? '', host);
          kinds.set(path, 'other');
          await lchown(host, header.uid ?? 0, header.gid ?? 0);
          await lutimes(host, mtime, mtime);
          return;
        case 'link': {
          stream.resume();
          const target = cleanPath(header.linkname ?? '');
          if (kinds.get(target) !== 'file') fail(`hard link ${JSON.stringify(header.name)} to ${JSON.stringify(header.linkname)}, which is not a file of this layer`);
          await link(join(dir, target), host);
          kinds.set(path, 'file');
          return;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo':
          stream.resume();
          kinds.set(path, 'other');
          specials.set(path, [host, header.type === 'fifo' ? 'p' : header.type === 'character-device' ? 'c' : 'b', header.devmajor ?? 0, header.devminor ?? 0]);
          late.set(path, header);
          return;
        default:
          stream.resume();
      }
    };
    handle().then(() => next(), (e: unknown) => next(e as Error));
  });

  try {
    await pipeline(tar, ex as unknown as NodeJS.WritableStream);
  } catch (e) {
    if (e instanceof KeelError) throw e;
    throw new KeelError('E_BUILD_INPUT', `cannot extract the layer: ${(e as Error).message}`, { cause: e });
  }
  await makeSpecials([...specials.values()]);
  await setXattrs([...opaque.map((p): [string, string, Buffer] => [join(dir, p), `${xattrPrefix}opaque`, Buffer.from('y')]), ...xattrs]);
  for (const [path, header] of [...late].sort(([a], [b]) => (a < b ? 1 : -1))) {
    const host = join(dir, path);
    await chown(host, header.uid ?? 0, header.gid ?? 0);
    await chmod(host, (header.mode ?? (header.type === 'directory' ? 0o755 : 0o644)) & 0o7777);
    const mtime = (header.mtime?.getTime() ?? 0) / 1000;
    await utimes(host, mtime, mtime);
  }
}

/** Device files, fifos and whiteouts: Node has no mknod, so one shell runs them all. */
async function makeSpecials(specials: readonly Special[]): Promise<void> {
  if (specials.length === 0) return;
  const args = specials.flatMap(([path, kind, major, minor]) => (kind === 'p' ? [path, 'p', '-', '-'] : [path, kind, String(major), String(minor)]));
  await command('sh', ['-c', 'while [ $# -gt 0 ]; do if [ "$2" = p ]; then mkfifo "$1"; else mknod "$1" "$2" "$3" "$4"; fi || exit 1; shift 4; done', 'sh', ...args]);
}

/** Extended attributes, set by setfattr (Debian's attr package): Node has no xattr calls. */
async function setXattrs(attrs: ReadonlyArray<readonly [string, string, Buffer]>): Promise<void> {
  if (attrs.length === 0) return;
  const script = attrs.map(([path, name, value]) => `# file: ${escapePath(path)}\n${name}=0s${value.toString('base64')}\n`).join('\n');
  await command('setfattr', ['-h', '--restore=-'], { input: Buffer.from(script, 'latin1') });
}

/** setfattr's escaping of a path in a --restore dump (as latin1 bytes): backslash and control bytes as octal. */
const escapePath = (path: string): string =>
  [...Buffer.from(path)].map((b) => (b < 0x20 || b === 0x5c || b === 0x7f ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b))).join('');
