/**
 * The build context: a folder read into a StageFs, with `.dockerignore` (or
 * `<Dockerfile>.dockerignore`, which wins) applied as BuildKit applies it (fsutil's filtered walk:
 * an excluded folder is skipped unless an exception pattern may re-include something in it, and
 * the parents of re-included paths are kept). Owners are 0:0 as BuildKit resets them; symlinks
 * are kept as links and never followed out of the context.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { KeelError } from '../errors.js';
import { PatternMatcher, readIgnoreFile } from './ignore.js';
import { parentOf, StageFs, type FsNode } from '../tree/index.js';

export interface BuildContext {
  readonly root: string;
  readonly fs: StageFs;
}

/** The ignore patterns for a build: `<dockerfile>.dockerignore` if it exists, else `<context>/.dockerignore`. */
export async function ignorePatterns(contextDir: string, dockerfilePath?: string): Promise<string[]> {
  const candidates = [
    ...(dockerfilePath === undefined ? [] : [join(dirname(dockerfilePath), `${basename(dockerfilePath)}.dockerignore`)]),
    join(contextDir, '.dockerignore'),
  ];
  for (const file of candidates) {
    try {
      return readIgnoreFile(await readFile(file, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return [];
}

export async function loadContext(dir: string, patterns: readonly string[]): Promise<BuildContext> {
  const root = resolve(dir);
  const info = await lstat(root).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) {
    throw new KeelError('E_BUILD_INPUT', `build context ${JSON.stringify(dir)} is not a folder`);
  }
  const ignore = new PatternMatcher(patterns);
  const fs = new StageFs();
  const pending = new Map<string, FsNode>(); // excluded folders, added if something inside is kept

  const keep = (path: string, node: FsNode): void => {
    // parents that were excluded themselves are emitted because a child is re-included
    for (let p = parentOf(path); p !== '' && fs.get(p) === undefined; p = parentOf(p)) {
      const parent = pending.get(p);
      if (parent !== undefined) fs.set(p, parent);
    }
    fs.set(path, node);
  };

  const walk = async (rel: string): Promise<void> => {
    // A folder at a time, synchronously: an lstat answered from the kernel's caches costs a few
    // microseconds, where the async round trip through the thread pool costs ten times that.
    // Yielding between folders keeps a program that embeds keel responsive.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const entries = readdirSync(join(root, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const stats = entries.map((e) => lstatSync(join(root, rel, e.name)));
    const links = entries.map((e, i) => (stats[i]?.isSymbolicLink() ? readlinkSync(join(root, rel, e.name)) : undefined));
    for (const [i, entry] of entries.entries()) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const host = join(root, path);
      const st = stats[i] as Stats;
      const excluded = !ignore.empty && ignore.matches(path);
      const base = { mode: st.mode & 0o7777, uid: 0, gid: 0, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isDirectory()) {
        const node: FsNode = { type: 'directory', ...base };
        if (!excluded) keep(path, node);
        else if (ignore.hasExclusions) pending.set(path, node);
        if (!excluded || ignore.hasExclusions) await walk(path);
      } else if (excluded) {
        continue;
      } else if (st.isFile()) {
        const fingerprint = `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.mode}`;
        keep(path, { type: 'file', ...base, size: st.size, source: { kind: 'host', path: host, fingerprint } });
      } else if (st.isSymbolicLink()) {
        keep(path, { type: 'symlink', ...base, target: links[i] as string });
      }
      // sockets, fifos and devices in a context are skipped, as BuildKit's fsutil does
    }
  };
  await walk('');
  return { root, fs };
}
