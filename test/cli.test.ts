/**
 * The built CLI and the README's example, run as a user runs them (the test command builds
 * dist/ first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitStatus } from '../src/cli/main';

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

test('examples/platforms.js writes one archive with an index of linux/amd64 and linux/arm64, their configs saying so', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'keel-example-platforms-'));
  try {
    const out = join(tmp, 'multi.tar');
    const r = spawnSync(process.execPath, [join(root, 'examples', 'platforms.js'), out], { encoding: 'utf8', env: { ...process.env, KEEL_CACHE_DIR: join(tmp, 'cache') } });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^index sha256:[0-9a-f]{64}\n  linux\/amd64: manifest sha256:[0-9a-f]{64}\n  linux\/arm64: manifest sha256:[0-9a-f]{64}\nwrote /);
    // the archive's index.json names the index (by the digest printed), whose entries carry each platform
    const list = spawnSync('tar', ['-xOf', out, 'index.json'], { encoding: 'utf8' });
    const top = JSON.parse(list.stdout) as { manifests: Array<{ mediaType: string; digest: string }> };
    expect(top.manifests[0]).toMatchObject({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: /^index (\S+)/.exec(r.stdout)?.[1] });
    const index = JSON.parse(spawnSync('tar', ['-xOf', out, `blobs/sha256/${top.manifests[0]?.digest.slice(7) ?? ''}`], { encoding: 'utf8' }).stdout) as { manifests: Array<{ platform: unknown }> };
    expect(index.manifests.map((m) => m.platform)).toEqual([{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

describe('keel check', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-cli-check-'));
    writeFileSync(join(dir, 'Dockerfile'), '#check=skip=ConsistentInstructionCasing\nFROM scratch as base\ncopy Dockerfile .\n');
    writeFileSync(join(dir, 'Clean.Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n');
    writeFileSync(join(dir, 'Broken.Dockerfile'), 'FROM scratch AS Bad\nBADCMD\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('prints the findings as docker build --check does, exit 0', () => {
    const r = run([cli, 'check', dir]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe([
      'Check complete, 1 warning has been found!',
      '',
      'WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/',
      "'as' and 'FROM' keywords' casing do not match",
      'Dockerfile:2',
      '--------------------',
      '   1 |     #check=skip=ConsistentInstructionCasing',
      '   2 | >>> FROM scratch as base',
      '   3 |     copy Dockerfile .',
      '   4 |     ',
      '--------------------',
      '',
    ].join('\n'));
  });

  test('--format json, -f, and no findings', () => {
    const j = run([cli, 'check', '--format', 'json', dir]);
    const parsed = JSON.parse(j.stdout) as { findings: Array<{ rule: string; level: string; range: { start: { line: number } } }> };
    expect(parsed.findings.map((f) => [f.rule, f.level, f.range.start.line])).toEqual([['FromAsCasing', 'warning', 2]]);
    const clean = run([cli, 'check', '-f', join(dir, 'Clean.Dockerfile'), dir]);
    expect([clean.status, clean.stdout]).toEqual([0, 'Check complete, no warnings found.\n']);
  });

  test('error=true exits 1 naming the rules; a Dockerfile that does not parse exits 2, after the findings before the error', () => {
    const strict = run([cli, 'check', '--build-arg', 'BUILDKIT_DOCKERFILE_CHECK=skip=ConsistentInstructionCasing;error=true', dir]);
    expect([strict.status, strict.stderr]).toEqual([1, 'ERROR: lint violation found for rules: FromAsCasing\n']);
    const broken = run([cli, 'check', '-f', join(dir, 'Broken.Dockerfile'), dir]);
    expect(broken.status).toBe(2);
    expect(broken.stdout).toContain("Stage name 'Bad' should be lowercase");
    expect(broken.stderr).toMatch(/unknown instruction: BADCMD/);
  });

  test('keel build --check runs the checks and builds nothing', () => {
    const r = run([cli, 'build', '--check', '--cache-dir', join(dir, 'cache'), dir]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Check complete, 1 warning has been found!/);
    expect(existsSync(join(dir, 'cache'))).toBe(false);
  });
});

describe('keel build', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('builds, writes the archive and the image ID, with plain progress on stderr', () => {
    const out = join(dir, 'img.tar');
    const iid = join(dir, 'iid');
    const r = run([cli, 'build', '-t', 'x:1', '--build-arg', 'GREETING=yo', '-o', out, '--iidfile', iid, '--cache-dir', join(dir, 'cache'), '--progress', 'plain', 'examples/hello']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^#1 \[1\/7\] FROM scratch\n#1 DONE \d+\.\ds\n/);
    expect(r.stderr).toContain('#4 [4/7] COPY <<EOF /srv/motd');
    expect(readFileSync(iid, 'utf8')).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(existsSync(out)).toBe(true);
    const q = run([cli, 'build', '-q', '--build-arg', 'GREETING=yo', '--cache-dir', join(dir, 'cache'), 'examples/hello']);
    expect(q.stdout).toBe(`${readFileSync(iid, 'utf8')}\n`);
  });

  test('a failing step exits 1 with FILE:LINE: message; bad flags and Dockerfiles exit 2', () => {
    const df = join(dir, 'bad.Dockerfile');
    writeFileSync(df, 'FROM scratch\nCOPY nope /x\n');
    const r = run([cli, 'build', '-f', df, '--progress', 'quiet', '--cache-dir', join(dir, 'cache'), 'examples/hello']);
    expect(r.status).toBe(1);
    // named as BuildKit names it (the file's name, not the path given to -f), after BuildKit's excerpt
    expect(r.stderr).toBe([
      'bad.Dockerfile:2', '--------------------', '   1 |     FROM scratch', '   2 | >>> COPY nope /x', '   3 |     ', '--------------------',
      'bad.Dockerfile:2: COPY source "nope" not found in the build context (or excluded by .dockerignore)', '',
    ].join('\n'));
    writeFileSync(df, 'FROM scratch\nCOPYY a b\n');
    expect(run([cli, 'build', '-f', df, '--cache-dir', join(dir, 'cache'), 'examples/hello']).status).toBe(2);
    expect(run([cli, 'build', '--bogus', 'examples/hello']).status).toBe(2);
    expect(run([cli, 'build', '-o', 'type=weird,dest=x', 'examples/hello']).status).toBe(2);
  });
});

test('examples/build.js builds the example', () => {
  const out = join(tmpdir(), `keel-example-${process.pid}.tar`);
  const r = run([join(root, 'examples', 'build.js'), out]);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/manifest sha256:[0-9a-f]{64}/);
  expect(existsSync(out)).toBe(true);
  rmSync(out, { force: true });
});

test('in a terminal (a pty, by script(1)) the live view is drawn, every line cut to the terminal\'s width', () => {
  if (spawnSync('which', ['script']).status !== 0) throw new Error('script(1) (util-linux) is needed for the pty test');
  const d = mkdtempSync(join(tmpdir(), 'keel-cli-tty-'));
  try {
    writeFileSync(join(d, 'Dockerfile'), `FROM scratch\nLABEL title="${'a'.repeat(150)}"\nCOPY Dockerfile /d\n`);
    const command = `stty cols 50 rows 30; ${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} build --cache-dir ${JSON.stringify(join(d, 'cache'))} -o ${JSON.stringify(join(d, 'out.tar'))} ${JSON.stringify(d)}`;
    const r = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    // the frames as the terminal shows them: keel's own cursor moves and line clears taken out
    const lines = r.stdout.replace(/\x1b\[\d+A|\x1b\[2K|\x1b\[J/g, '').split(/\r?\n/).filter((l) => l !== '');
    const frames = lines.filter((l) => !l.startsWith('image ') && !l.startsWith('written to '));
    expect(frames.some((l) => /^\[\+\] Building [\d.]+s \(4\/4\) FINISHED$/.test(l))).toBe(true);
    expect(frames.some((l) => l.startsWith(' => exporting to image archive'))).toBe(true);
    expect(frames.filter((l) => l.includes('LABEL title="aaa')).every((l) => l.endsWith('s') && [...l].length <= 50)).toBe(true);
    expect(frames.every((l) => [...l].length <= 50)).toBe(true);
    // an image is not written to a terminal
    const toTty = spawnSync('script', ['-q', '-e', '-c', `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} build --cache-dir ${JSON.stringify(join(d, 'cache'))} -o - ${JSON.stringify(d)}`, '/dev/null'], { encoding: 'utf8' });
    expect([toTty.status, toTty.stdout]).toEqual([2, expect.stringContaining('refusing to write an image to the terminal')]);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('keel du and keel prune: the cache by kind, then emptied; bad sizes and durations exit 2', () => {
  const d = mkdtempSync(join(tmpdir(), 'keel-cli-du-'));
  try {
    const cache = join(d, 'cache');
    expect(run([cli, 'build', '-q', '--cache-dir', cache, 'examples/hello']).status).toBe(0);
    const du = run([cli, 'du', '--cache-dir', cache]);
    expect(du.status).toBe(0);
    expect(du.stdout).toMatch(/^blob +\d+ +[\d.]+[kM]?B$/m);
    expect(du.stdout).toMatch(/^Total +\d+ +[\d.]+[kM]?B$/m);
    expect(run([cli, 'du', '-v', '--cache-dir', cache]).stdout).toMatch(/^\d+s ago +[\d.]+[kM]?B +blob +blobs\/sha256\/[0-9a-f]{64}$/m);
    expect(run([cli, 'prune', '--keep-storage', 'lots', '--cache-dir', cache]).status).toBe(2);
    expect(run([cli, 'prune', '--filter', 'until=1 day', '--cache-dir', cache]).status).toBe(2);
    const pruned = run([cli, 'prune', '-af', '--cache-dir', cache]);
    expect([pruned.status, pruned.stdout]).toEqual([0, expect.stringMatching(/^Removed [1-9]\d* item\(s\), [\d.]+[kM]?B; the cache keeps 0B\n$/)]);
    expect(run([cli, 'du', '--cache-dir', join(d, 'none')]).status).toBe(2);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('examples/progress.js follows the build\'s events; examples/abort.js ends a build with E_ABORTED', () => {
  const p = run([join(root, 'examples', 'progress.js'), '--no-cache']);
  expect(p.status).toBe(0);
  expect(p.stdout).toMatch(/^start  #1 \[1\/7\] FROM scratch\n/);
  expect(p.stdout).toContain('7 steps\n');
  const a = run([join(root, 'examples', 'abort.js'), '1']);
  expect([a.status, a.stdout]).toEqual([0, 'aborted after 1 ms: build aborted\n']);
});

test('the exit status comes from the error code, wherever in the build it happened', () => {
  expect(exitStatus('E_REGISTRY')).toBe(1);
  expect(exitStatus('E_RUN')).toBe(1);
  expect(exitStatus('E_SOURCE_NOT_FOUND')).toBe(1);
  expect(exitStatus('E_USAGE')).toBe(2);
  expect(exitStatus('E_UNKNOWN_INSTRUCTION')).toBe(2);
  expect(exitStatus('E_BUILD_INPUT')).toBe(2);
  expect(exitStatus('E_REFERENCE')).toBe(2);
});

test('a Dockerfile\'s control characters reach the terminal escaped, in progress and in errors', () => {
  const d = mkdtempSync(join(tmpdir(), 'keel-cli-esc-'));
  try {
    writeFileSync(join(d, 'Dockerfile'), 'FROM scratch\nLABEL title="\x1b]0;owned\x07\x1b[2J"\n');
    const ok = spawnSync(process.execPath, [cli, 'build', '--progress', 'plain', '--cache-dir', join(d, 'cache'), d], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stderr).toContain('LABEL title="\\x1b]0;owned\\x07\\x1b[2J"');
    expect(ok.stderr).not.toMatch(/[\x07\x1b]/);
    writeFileSync(join(d, 'Dockerfile'), 'FROM scratch\n\x1b[2JBOGUS x\n');
    const bad = spawnSync(process.execPath, [cli, 'build', '--cache-dir', join(d, 'cache'), d], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).not.toMatch(/[\x07\x1b]/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

describe('start-up', () => {
  test('where Node has a compile cache (22.1 and later) the CLI keeps one in $NODE_COMPILE_CACHE; elsewhere it runs without', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'keel-compile-cache-'));
    try {
      const { NODE_DISABLE_COMPILE_CACHE: _off, ...env } = process.env;
      const r = spawnSync(process.execPath, [cli, 'version'], { cwd: root, encoding: 'utf8', env: { ...env, NODE_COMPILE_CACHE: cacheDir } });
      expect(r.status).toBe(0);
      const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
      const hasCache = major > 22 || (major === 22 && minor >= 1);
      // Node writes one folder per version, holding a cache file per module it compiled
      const written = readdirSync(cacheDir).flatMap((v) => readdirSync(join(cacheDir, v)));
      expect(written.length > 0).toBe(hasCache);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
