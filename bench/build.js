#!/usr/bin/env node
/**
 * keel vs docker build (BuildKit) on a generated context: 10,000 small files plus 64 MB of
 * binaries, `FROM scratch` + `COPY . /app/` (SPEC.md section 9). In one run, alternating, for
 * several rounds: cold build to an archive (docker: build --no-cache + docker save), no-change
 * rebuild (keel to an archive and to an oci-dir), one-file-changed rebuild. Prints medians, the
 * ratio keel/docker, and keel's peak RSS. Each keel build is a fresh `node` process.
 *
 * Needs a Docker daemon: DOCKER_HOST or KEEL_DOCKER_HOST (bash scripts/test-env.sh start).
 * Usage: npm run build && node bench/build.js [rounds]
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { mkdirSync, rmSync, writeFileSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { randomBytes } = require('node:crypto');

const ROUNDS = Number(process.argv[2] ?? 5);
const WORK = join(__dirname, '.work');
const CTX = join(WORK, 'ctx');
const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const DOCKER_HOST = process.env.KEEL_DOCKER_HOST ?? process.env.DOCKER_HOST;
if (!DOCKER_HOST) {
  console.error('bench/build.js needs a Docker daemon: set DOCKER_HOST or run `bash scripts/test-env.sh start`');
  process.exit(2);
}
const env = { ...process.env, DOCKER_HOST, DOCKER_BUILDKIT: '1' };

function generate() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(CTX, { recursive: true });
  for (let d = 0; d < 100; d++) {
    const dir = join(CTX, 'src', `pkg${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(dir, `file${f}.js`), `// ${d}/${f}\nmodule.exports = ${JSON.stringify('x'.repeat(100 + ((d * f) % 400)))};\n`);
  }
  mkdirSync(join(CTX, 'bin'));
  for (let i = 0; i < 4; i++) writeFileSync(join(CTX, 'bin', `blob${i}.bin`), randomBytes(16 * 1024 * 1024));
  writeFileSync(join(CTX, 'Dockerfile'), 'FROM scratch\nCOPY . /app/\n');
}

function time(fn) {
  const t0 = performance.now();
  const extra = fn();
  return { ms: performance.now() - t0, ...extra };
}

function keel(cacheDir, type, path) {
  const options = { context: CTX, cacheDir, tags: ['keel-bench:1'], output: { type, path } };
  const r = spawnSync(process.execPath, [join(__dirname, 'keel-run.js'), JSON.stringify({ options })], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`keel failed: ${r.stderr}`);
  return { rss: JSON.parse(r.stdout).rss };
}

function docker(args) {
  execFileSync(DOCKER, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return {};
}

const dockerBuild = (noCache) => {
  docker(['build', '--network=none', '-q', ...(noCache ? ['--no-cache'] : []), '-t', 'keel-bench:docker', CTX]);
  docker(['save', '-o', join(WORK, 'docker.tar'), 'keel-bench:docker']);
  return {};
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function main() {
  generate();
  const results = { cold: { keel: [], docker: [] }, warm: { keel: [], keelDir: [], docker: [] }, change: { keel: [], docker: [] } };
  let rss = 0;
  const cache = join(WORK, 'cache');
  for (let r = 0; r < ROUNDS; r++) {
    // cold: a fresh cache for keel, --no-cache for docker
    rmSync(cache, { recursive: true, force: true });
    const kc = time(() => keel(cache, 'oci-archive', join(WORK, 'keel.tar')));
    results.cold.keel.push(kc.ms);
    rss = Math.max(rss, kc.rss);
    results.cold.docker.push(time(() => dockerBuild(true)).ms);
    // no change
    const kw = time(() => keel(cache, 'oci-archive', join(WORK, 'keel.tar')));
    results.warm.keel.push(kw.ms);
    rss = Math.max(rss, kw.rss);
    results.warm.keelDir.push(time(() => keel(cache, 'oci-dir', join(WORK, 'keel-dir'))).ms);
    results.warm.docker.push(time(() => dockerBuild(false)).ms);
    // one file changed
    writeFileSync(join(CTX, 'src', 'pkg7', 'file7.js'), `// changed ${r}\n`);
    results.change.keel.push(time(() => keel(cache, 'oci-archive', join(WORK, 'keel.tar'))).ms);
    writeFileSync(join(CTX, 'src', 'pkg7', 'file7.js'), `// changed again ${r}\n`);
    results.change.docker.push(time(() => dockerBuild(false)).ms);
  }
  const row = (name, k, d) => console.log(`${name.padEnd(44)} keel ${median(k).toFixed(0).padStart(6)} ms   docker ${median(d).toFixed(0).padStart(6)} ms   keel/docker ${(median(k) / median(d)).toFixed(2)}`);
  console.log(`context: 10,000 small files + 64 MB of binaries; FROM scratch + COPY . /app/; ${ROUNDS} rounds, medians; node ${process.version}`);
  row('cold build to an archive', results.cold.keel, results.cold.docker);
  row('no-change rebuild, archive output', results.warm.keel, results.warm.docker);
  row('no-change rebuild, oci-dir output', results.warm.keelDir, results.warm.docker);
  row('one file changed, archive output', results.change.keel, results.change.docker);
  console.log(`keel peak RSS ${(rss / 1024 / 1024).toFixed(0)} MiB`);
  docker(['rmi', '-f', 'keel-bench:docker']);
}

main();
