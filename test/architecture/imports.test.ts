/**
 * The direction of imports (SPEC.md section 2): each folder of src/ is a module whose index.ts is
 * its only door. A file imports another folder only through that folder's index.ts, and the
 * folders' graph has no cycle (text -> AST -> plan -> steps -> layers -> image -> output).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(__dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The top folder of src/ a file is in ('' for src/index.ts and src/errors.ts, which everyone may use). */
const folderOf = (file: string): string => {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? '' : (rel[0] as string);
};

interface Import {
  readonly from: string;
  readonly to: string;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const found: Import[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)) {
    const target = resolve(dirname(file), (m[1] as string).replace(/\.js$/, '.ts'));
    found.push({ from: file, to: target });
  }
  return found;
}

const files = sourceFiles(SRC);
const imports = files.flatMap(importsOf);

test('every src folder has an index.ts', () => {
  // cli/ is the program (dist/cli/main.js), imported by nobody; types/ holds only declarations
  const folders = [...new Set(files.map(folderOf))].filter((f) => f !== '' && f !== 'types' && f !== 'cli');
  const missing = folders.filter((f) => !files.includes(join(SRC, f, 'index.ts')));
  expect(missing).toEqual([]);
});

test('another folder is imported only through its index.ts', () => {
  const deep = imports
    .filter(({ from, to }) => folderOf(to) !== '' && folderOf(from) !== folderOf(to) && to !== join(SRC, folderOf(to), 'index.ts'))
    .map(({ from, to }) => `${relative(SRC, from)} -> ${relative(SRC, to)}`);
  expect(deep).toEqual([]);
});

test('the folders import each other without a cycle', () => {
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of imports) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === '' || b === '' || a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)?.add(b);
  }
  const cycles: string[] = [];
  const visit = (node: string, path: string[]): void => {
    if (path.includes(node)) {
      cycles.push([...path.slice(path.indexOf(node)), node].join(' -> '));
      return;
    }
    for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
  };
  for (const node of edges.keys()) visit(node, []);
  expect(cycles).toEqual([]);
});

test('cli reaches keel only through the package root, as a user of the library does', () => {
  const reached = imports.filter(({ from, to }) => folderOf(from) === 'cli' && folderOf(to) !== 'cli' && to !== join(SRC, 'index.ts'));
  expect(reached.map(({ from, to }) => `${relative(SRC, from)} -> ${relative(SRC, to)}`)).toEqual([]);
});

test('the checker sees imports: builder reaches image through its index', () => {
  // guards the tests above against a regular expression that matches nothing
  expect(imports.some(({ from, to }) => folderOf(from) === 'builder' && to === join(SRC, 'image', 'index.ts'))).toBe(true);
});

/** Library code: everything but the program (cli/) and the one module that reads the process for build(). */
const library = files.filter((f) => folderOf(f) !== 'cli' && relative(SRC, f) !== join('builder', 'host.ts'));

test('library code reads no process state: build() reads it once (builder/host.ts) and passes it down', () => {
  const reads = library.flatMap((f) =>
    readFileSync(f, 'utf8').split('\n').flatMap((line, i) =>
      /\bprocess\.(env|getuid|geteuid|pid|arch|cwd)\b/.test(line) && !/^\s*(\*|\/\/|\/\*\*)/.test(line) ? [`${relative(SRC, f)}:${i + 1}: ${line.trim()}`] : []));
  expect(reads).toEqual([]);
});

test('library code keeps no state of its own between builds (no module-level `let`), but for loading a WASM module once', () => {
  const allowed = new Set([join('image', 'zstd.ts')]); // the zstd encoder, loaded once, the same for every build
  const state = library.filter((f) => !allowed.has(relative(SRC, f))).flatMap((f) =>
    readFileSync(f, 'utf8').split('\n').flatMap((line, i) => (/^(let|var) /.test(line) ? [`${relative(SRC, f)}:${i + 1}: ${line.trim()}`] : [])));
  expect(state).toEqual([]);
});
