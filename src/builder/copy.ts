/**
 * COPY and ADD of local sources into a stage's tree, with BuildKit's rules
 * (reference/builders-semantics.md section 7; dockerfile2llb/convert_copy.go and fsutil's
 * copy.go): a directory copies its contents, a wildcard follows Go's filepath.Match and may match
 * nothing, a literal source must exist, several sources need a destination ending in `/`, a
 * destination that is an existing folder receives files inside it, created folders are 0755 (the
 * --chmod mode with one) and owned like the copy. Returns the paths it wrote, which make the layer.
 */
import { posix } from 'node:path';
import { KeelError } from '../errors.js';
import { goMatch, hasGoWildcard } from './go-match.js';
import { PatternMatcher } from './ignore.js';
import { baseName, cleanPath, parentOf, type FsNode, type Owner, type StageFs } from '../tree/index.js';

export type { Owner };

export interface CopyRequest {
  readonly instruction: 'COPY' | 'ADD';
  /** The tree to copy from: the build context or another stage. */
  readonly from: StageFs;
  /** True for the build context: owners become 0:0 and sources may not climb out of it. */
  readonly fromContext: boolean;
  /** Source paths, expanded. */
  readonly sources: readonly string[];
  /** Destination, expanded, as written (a trailing `/` matters). */
  readonly dest: string;
  /** The stage's working directory, as a tree path. */
  readonly workdir: string;
  readonly owner?: Owner;
  readonly chmod?: number;
  readonly exclude: readonly string[];
  /** COPY --parents: each source keeps its path (below a `/./` pivot, if the source has one). */
  readonly parents?: boolean;
  /** The mtime a copied entry gets, from its source mtime. */
  readonly mtime: (source: number) => number;
  /** The mtime of folders the copy creates. */
  readonly createdMtime: number;
}

const fail = (code: 'E_BUILD_INPUT' | 'E_SOURCE_NOT_FOUND' | 'E_CONTEXT_ESCAPE', message: string): never => {
  throw new KeelError(code, message);
};

/** `dest` as a tree path, and whether it names a folder (`/` at the end, or `.`). */
export function destination(dest: string, workdir: string): { path: string; isDir: boolean } {
  const isDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.') || dest === '';
  return { path: dest.startsWith('/') ? cleanPath(dest) : cleanPath(dest, workdir), isDir };
}

/**
 * What a source word selects in `from`, in order (none for an unmatched wildcard): each the path
 * to read (symlinks in a literal source followed) and the name it is copied as (the source's own
 * name, not its link target's).
 */
export function selectSources(req: CopyRequest, source: string): Array<{ path: string; name: string }> {
  const normal = posix.normalize(source);
  if (req.fromContext && (normal === '..' || normal.startsWith('../'))) {
    // BuildKit maps ../x to x silently; keel refuses a path that names something outside the context
    fail('E_CONTEXT_ESCAPE', `${req.instruction} source ${JSON.stringify(source)} is outside the build context`);
  }
  const path = cleanPath(source);
  // --parents keeps each source's path below the pivot (`a/./b/c` keeps `b/c`), else below the root
  const pivotAt = source.indexOf('/./');
  const pivot = req.parents === true && pivotAt >= 0 ? cleanPath(source.slice(0, pivotAt)) : '';
  const nameOf = (p: string): string => (req.parents === true ? (pivot === '' ? p : p.slice(pivot.length + 1)) : baseName(p));
  if (!hasGoWildcard(path)) {
    const resolved = req.from.resolve(path, true);
    if (req.from.get(resolved) === undefined) {
      fail(
        'E_SOURCE_NOT_FOUND',
        req.fromContext
          ? `${req.instruction} source ${JSON.stringify(source)} not found in the build context (or excluded by .dockerignore)`
          : `${req.instruction} source ${JSON.stringify(source)} not found in the source stage`,
      );
    }
    return [{ path: resolved, name: nameOf(path) }];
  }
  // walk from the literal prefix; match the rest of the pattern against paths below it
  const parts = path.split('/');
  const firstWild = parts.findIndex(hasGoWildcard);
  const prefix = req.from.resolve(parts.slice(0, firstWild).join('/'), true);
  const pattern = parts.slice(firstWild).join('/');
  const depth = parts.length - firstWild;
  const matches: Array<{ path: string; name: string }> = [];
  for (const p of req.from.descendants(prefix)) {
    const rel = prefix === '' ? p : p.slice(prefix.length + 1);
    if (rel.split('/').length !== depth) continue;
    if (goMatch(pattern, rel)) matches.push({ path: req.from.resolve(p, true), name: nameOf(p) });
  }
  return matches.filter((m) => req.from.get(m.path) !== undefined);
}

/** Apply the copy to `target`; returns every path written or created, sorted. */
export function copyInto(target: StageFs, req: CopyRequest): string[] {
  const dest = destination(req.dest, req.workdir);
  const selected = req.sources.map((s) => ({ source: s, paths: selectSources(req, s) }));
  const total = selected.reduce((n, s) => n + s.paths.length, 0);
  const wildcard = req.sources.some((s) => hasGoWildcard(cleanPath(s)));
  if ((req.sources.length > 1 || (wildcard && total > 1) || (req.parents === true && total > 0)) && !dest.isDir) {
    fail('E_BUILD_INPUT', `When using ${req.instruction} with more than one source file, the destination must be a directory and end with a /`);
  }
  const written = new Set<string>();
  const owner = (node: FsNode): Owner => req.owner ?? (req.fromContext ? { uid: 0, gid: 0 } : { uid: node.uid, gid: node.gid });
  const excluded = req.exclude.length === 0 ? undefined : new PatternMatcher(req.exclude);

  /**
   * mkdir -p for `dir`, new folders 0755 and owned like the copy. A symlink on the way (the last
   * component too) is followed inside the root and the folders are made where it points, the link
   * kept: `COPY foo /link/` with `/link -> ../tmp/target` writes /tmp/target/foo, as BuildKit's
   * copy resolves its destination (continuity fs.RootPath; dockerfile_core_test.go testSymlinkDestination).
   */
  const makeDirs = (dir: string): void => {
    if (dir === '') return;
    const resolved = target.resolve(dir, true);
    const existing = target.get(resolved);
    if (existing?.type === 'directory') return;
    if (existing !== undefined) fail('E_BUILD_INPUT', `cannot create folder /${dir}: a file is in the way`);
    makeDirs(parentOf(resolved));
    const o = req.owner ?? { uid: 0, gid: 0 };
    // with --chmod, the folders the copy makes take the mode too (current BuildKit's fsutil copy;
    // dockerfile_copy_test.go testCopyChmod: `COPY --chmod=770 foo /parent/sub/foo` makes sub 0770)
    target.set(resolved, { type: 'directory', mode: req.chmod ?? 0o755, uid: o.uid, gid: o.gid, mtime: req.createdMtime });
    written.add(resolved);
  };

  const put = (path: string, node: FsNode): void => {
    const existing = target.get(path);
    if (existing?.type === 'directory' && node.type !== 'directory') {
      fail('E_BUILD_INPUT', `cannot copy to /${path}: it is a folder`);
    }
    if (existing !== undefined && existing.type !== 'directory' && node.type === 'directory') {
      fail('E_BUILD_INPUT', `cannot copy a folder to /${path}: a file is in the way`);
    }
    const o = owner(node);
    const mode = req.chmod ?? node.mode;
    target.set(path, { ...node, uid: o.uid, gid: o.gid, mode, mtime: req.mtime(node.mtime) });
    written.add(path);
  };

  const copyTree = (srcDir: string, destDir: string, excludeBase: string): void => {
    for (const p of req.from.descendants(srcDir)) {
      const rel = srcDir === '' ? p : p.slice(srcDir.length + 1);
      if (excluded?.matches(excludeBase === '' ? rel : `${excludeBase}/${rel}`)) continue;
      put(destDir === '' ? rel : `${destDir}/${rel}`, req.from.get(p) as FsNode);
    }
  };

  for (const { paths } of selected) {
    for (const { path: src, name: srcName } of paths) {
      const node = req.from.get(src) as FsNode;
      if (node.type === 'directory') {
        // a folder's contents go into the destination, which is made like any destination
        // folder (0755, owned like the copy); it does not take the source folder's metadata
        const into = req.parents === true && srcName !== '' ? cleanPath(srcName, dest.path) : dest.path;
        const existing = target.get(target.resolve(into, true));
        if (existing !== undefined && existing.type !== 'directory') {
          fail('E_BUILD_INPUT', `cannot copy a folder to /${into}: a file is in the way`);
        }
        makeDirs(into);
        copyTree(src, into === '' ? '' : target.resolve(into, true), '');
        continue;
      }
      if (excluded?.matches(baseName(srcName))) continue;
      const existing = target.get(target.resolve(dest.path, true));
      const intoDir = dest.isDir || existing?.type === 'directory';
      // with --parents the name may be a path: its folders are made like the destination's
      const dir = intoDir ? (srcName.includes('/') ? cleanPath(parentOf(srcName), dest.path) : dest.path) : parentOf(dest.path);
      makeDirs(dir);
      const resolvedDir = dir === '' ? '' : target.resolve(dir, true);
      const name = intoDir ? baseName(srcName) : baseName(dest.path);
      put(resolvedDir === '' ? name : `${resolvedDir}/${name}`, node);
    }
  }
  return [...written].sort();
}
