/**
 * The rules every entry of a layer (or of an archive ADD unpacks) passes: one set for both
 * appliers, into a stage's tree (apply-tree.ts) and into a layer folder (snapshot/layer-dirs.ts), so
 * COPY, RUN on overlayfs and RUN on a written-out copy all see the same files. They follow
 * containerd's applier with its overlay snapshotter (pkg/archive/tar.go, applyNaive; the layer
 * goes into the snapshot's own folder, lower layers consulted only for the metadata of folders):
 * - a layer's name is cleaned into the root (`../x` and `/x` are `x`); an ADD archive's name that climbs
 *   above it (`../x`) is refused, as moby's and BuildKit's unpack refuse it;
 * - `.wh..wh..opq` makes its folder opaque; `.wh.NAME` deletes NAME (validateWhiteout: NAME is
 *   not empty, `.` or `..`);
 * - an entry never goes through a non-folder: a parent this archive made a file, a symlink, a
 *   device or a whiteout is refused; a parent a lower layer has as a non-folder is replaced by a
 *   folder (as overlayfs shows an upper folder over a lower non-folder); a parent the archive does
 *   not name takes a lower layer's folder's metadata, or 0755 root with time 0;
 * - a hard link names a regular file this archive wrote before it (by its cleaned name), never a
 *   file of a lower layer or outside the root;
 * - devices and fifos are kept; sockets, sparse files and types tar-stream does not know are refused;
 * - extended attributes (PAX `SCHILY.xattr.*`) are kept, except overlayfs' own
 *   (`trusted.overlay.*`, `user.overlay.*`), which would steer overlayfs' lookups in keel's layer
 *   folders (containerd drops them too);
 * - a name or link longer than MAX_NAME_BYTES is refused (a deep path is no way to exhaust time or stack);
 * - modes keep their 07777 bits, owners their numbers, times their whole seconds.
 */
import { posix } from 'node:path';
import type { TarHeader as Header } from '../image/index.js';
import { KeelError } from '../errors.js';
import { baseName, cleanPath, parentOf } from './stage-fs.js';

export interface EntryMeta {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
}

/** Extended attributes by name, values in base64 (bytes kept exactly, and JSON can hold them). */
export type Xattrs = Readonly<Record<string, string>>;

export type DeviceKind = 'char' | 'block' | 'fifo';

/** What an entry asks for, once the rules have passed it. Paths are relative to the archive's root. */
export type ArchiveEntry =
  /** `./`: the root folder's own metadata. */
  | { readonly kind: 'root'; readonly meta: EntryMeta; readonly xattrs?: Xattrs }
  | { readonly kind: 'opaque'; readonly dir: string }
  | { readonly kind: 'whiteout'; readonly path: string }
  | { readonly kind: 'directory'; readonly path: string; readonly meta: EntryMeta; readonly xattrs?: Xattrs }
  | { readonly kind: 'file'; readonly path: string; readonly meta: EntryMeta; readonly size: number; readonly xattrs?: Xattrs }
  | { readonly kind: 'symlink'; readonly path: string; readonly meta: EntryMeta; readonly target: string; readonly xattrs?: Xattrs }
  /** `target`: the path of a regular file this archive wrote before. */
  | { readonly kind: 'hardlink'; readonly path: string; readonly meta: EntryMeta; readonly target: string }
  | { readonly kind: 'device'; readonly path: string; readonly meta: EntryMeta; readonly device: DeviceKind; readonly major: number; readonly minor: number; readonly xattrs?: Xattrs };

type Written = 'directory' | 'file' | 'other';

/** The folder an implicit parent gets where no lower layer has one. */
export const IMPLICIT_FOLDER: EntryMeta = { mode: 0o755, uid: 0, gid: 0, mtime: 0 };

const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

/**
 * The longest name or link an entry may have: within Linux's PATH_MAX (4096) with room for the
 * folder it is unpacked in; deeper paths could not be opened there anyway.
 */
export const MAX_NAME_BYTES = 3072;

/**
 * One archive's rules: `read()` each header in order. It throws E_BUILD_INPUT (with `what` in the
 * message) for an entry the rules refuse, and remembers what the archive wrote for the entries after.
 */
export class ArchiveRules {
  private readonly written = new Map<string, Written>([['', 'directory']]);

  private readonly whiteouts: boolean;
  private readonly what: string;

  /**
   * `layer`: an image layer, whose `.wh.` entries delete and whose entries never go through a
   * non-folder it made. An archive ADD unpacks (`layer: false`) has neither rule: its `.wh.` names
   * are plain names, and its applier resolves parents through symlinks inside the destination, as
   * BuildKit's unpack does (fs.RootPath).
   */
  constructor(kind: 'layer' | 'archive') {
    this.whiteouts = kind === 'layer';
    this.what = kind;
  }

  read(header: Header): ArchiveEntry {
    // an archive ADD unpacks may not name a path above its root (moby's createTarFile: a
    // breakoutError, which BuildKit's unpack keeps); a layer's names are cleaned into it, as
    // containerd's applier does
    if (!this.whiteouts && climbsOut(header.name)) this.fail(`entry ${JSON.stringify(header.name)} is outside the extraction root`);
    const path = cleanPath(header.name);
    for (const name of [path, header.linkname ?? '']) {
      if (Buffer.byteLength(name) > MAX_NAME_BYTES) this.fail(`an entry's name or link of ${Buffer.byteLength(name)} bytes is longer than ${MAX_NAME_BYTES} (${JSON.stringify(name.slice(0, 40))}…)`);
    }
    if (path === '') {
      if (header.type === 'directory') return { kind: 'root', meta: metaOf(header), ...xattrsOf(header) };
      this.fail(`${JSON.stringify(header.name)} would replace the root folder`);
    }
    const pax = header.pax ?? {};
    if (pax['GNU.sparse.name'] !== undefined || pax['GNU.sparse.major'] !== undefined) {
      this.fail(`${JSON.stringify(header.name)} is a sparse file, which keel does not unpack`);
    }
    if (this.whiteouts) this.checkParents(path, header.name);
    const name = baseName(path);
    if (this.whiteouts && name.startsWith('.wh.')) {
      if (name === '.wh..wh..opq') return { kind: 'opaque', dir: parentOf(path) };
      const victim = name.slice(4);
      if (victim === '' || victim === '.' || victim === '..') this.fail(`invalid whiteout ${JSON.stringify(header.name)}`);
      const gone = parentOf(path) === '' ? victim : `${parentOf(path)}/${victim}`;
      this.record(gone, 'other');
      return { kind: 'whiteout', path: gone };
    }
    const meta = metaOf(header);
    switch (header.type) {
      case 'directory':
        this.record(path, 'directory');
        return { kind: 'directory', path, meta, ...xattrsOf(header) };
      case 'file':
      case 'contiguous-file':
        this.record(path, 'file');
        return { kind: 'file', path, meta, size: header.size ?? 0, ...xattrsOf(header) };
      case 'symlink':
        this.record(path, 'other');
        // a symlink's mode is always 0777 on Linux (there is no lchmod), whatever the archive says
        return { kind: 'symlink', path, meta: { ...meta, mode: 0o777 }, target: header.linkname ?? '', ...xattrsOf(header) };
      case 'link': {
        const target = cleanPath(header.linkname ?? '');
        if (this.written.get(target) !== 'file' || target === path) {
          this.fail(`hard link ${JSON.stringify(header.name)} points to ${JSON.stringify(header.linkname)}, which is not a file of this ${this.what}`);
        }
        this.record(path, 'file');
        return { kind: 'hardlink', path, meta, target };
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        this.record(path, 'other');
        const device: DeviceKind = header.type === 'fifo' ? 'fifo' : header.type === 'character-device' ? 'char' : 'block';
        return { kind: 'device', path, meta, device, major: header.devmajor ?? 0, minor: header.devminor ?? 0, ...xattrsOf(header) };
      }
      default:
        return this.fail(`${JSON.stringify(header.name)} is of a type keel does not unpack (${String(header.type)})`);
    }
  }

  /** Every parent of `path` that this archive wrote must be a folder. */
  private checkParents(path: string, name: string): void {
    for (let p = parentOf(path); p !== ''; p = parentOf(p)) {
      const kind = this.written.get(p);
      if (kind === 'directory') return; // its own parents were checked when it was written
      if (kind !== undefined) this.fail(`${JSON.stringify(name)} is under /${p}, which this ${this.what} made a non-folder`);
    }
  }

  /** `path` is now `kind`; whatever this archive put below a path that is no folder any more is gone. */
  private record(path: string, kind: Written): void {
    const before = this.written.get(path);
    if (before !== undefined && before === 'directory' && kind !== 'directory') {
      const prefix = `${path}/`;
      for (const k of [...this.written.keys()]) if (k.startsWith(prefix)) this.written.delete(k);
    }
    this.written.set(path, kind);
  }

  private fail(message: string): never {
    throw new KeelError('E_BUILD_INPUT', `${this.what}: ${message}`);
  }
}

/** Whether a relative name climbs above the root (`../x`, `a/../../x`); an absolute name is taken from the root. */
function climbsOut(name: string): boolean {
  const normal = posix.normalize(name.replace(/^\/+/, ''));
  return normal === '..' || normal.startsWith('../');
}

function metaOf(header: Header): EntryMeta {
  return {
    mode: (header.mode ?? (header.type === 'directory' ? 0o755 : 0o644)) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    mtime: Math.floor((header.mtime?.getTime() ?? 0) / 1000),
  };
}

/** The entry's extended attributes, values as the bytes written, overlayfs' own left out (none: no field). */
function xattrsOf(header: Header): { xattrs?: Xattrs } {
  const found: Record<string, string> = {};
  for (const [key, value] of header.paxBytes) {
    if (!key.startsWith('SCHILY.xattr.')) continue;
    const name = key.slice('SCHILY.xattr.'.length);
    if (OVERLAY_XATTR.test(name)) continue;
    found[name] = value.toString('base64');
  }
  return Object.keys(found).length === 0 ? {} : { xattrs: found };
}
