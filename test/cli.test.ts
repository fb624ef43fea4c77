/**
 * The built CLI and the README's example, run as a user runs them (the test command builds
 * dist/ first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');
const cli = join(root, 'dist', 'cli', 'main.js');
const run = (args: string[], input?: string) =>
  spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', ...(input === undefined ? {} : { input }) });

beforeAll(() => {
  if (!existsSync(cli)) throw new Error('dist/ is missing: run `npm run build` (npm test does it)');
});

describe('keel parse', () => {
  test('--dump prints BuildKit\'s dump and exits 0', () => {
    const r = run([cli, 'parse', '--dump', 'examples/Dockerfile']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[1]).toBe('(from "node:${NODE_VERSION}" "AS" "build")');
    expect(r.stderr).toBe('');
  });

  test('--json prints the typed AST', () => {
    const r = run([cli, 'parse', '--json', 'examples/Dockerfile']);
    expect(r.status).toBe(0);
    const ast = JSON.parse(r.stdout) as { instructions: Array<{ kind: string }>; errors: unknown[] };
    expect(ast.instructions.map((i) => i.kind).slice(0, 3)).toEqual(['ARG', 'FROM', 'WORKDIR']);
    expect(ast.errors).toEqual([]);
  });

  test('a bad Dockerfile prints FILE:LINE: message and exits 2', () => {
    const r = run([cli, 'parse', '-'], 'FROM a\nCOPY --frm=x a b\n');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('Dockerfile:2: unknown flag: --frm (did you mean from?)\n');
  });

  test('usage errors exit 2; a missing file is reported without a stack trace', () => {
    expect(run([cli, 'parse']).status).toBe(2);
    const r = run([cli, 'parse', 'no-such-file']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^keel: no-such-file: ENOENT/);
  });
});

test('examples/parse.js runs and prints the dump', () => {
  const r = run([join(root, 'examples', 'parse.js')]);
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('stage build from node:20');
  expect(r.stdout).toContain(readFileSync(join(root, 'test', 'fixtures', 'examples-Dockerfile.dump'), 'utf8'));
  expect(r.stdout).toContain('E_FLAG at 2:6: unknown flag: --frm (did you mean from?)');
});
