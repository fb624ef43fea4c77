#!/usr/bin/env node
/**
 * Independent stages built at the same time (issue 9), keel vs docker build (BuildKit, overlay2), in
 * one run, through each CLI as a user runs it:
 * (a) four stages, each one RUN that sleeps 1 s and writes a file, and a last stage that COPY --froms each;
 * (b) four stages, each a CPU-bound RUN (gzip -9 of 50 MB from /dev/urandom, only its size kept);
 * (c) keel --max-parallelism 1 on (a): about 4 s, which shows the limit holds.
 * Start state "base present": a busybox image (Debian's busybox-static) in the local registry, which
 * docker holds in its store and keel in its cache dir (pulled once before the rounds); every timed build
 * is cold (--no-cache on both sides). Rounds alternate keel and docker; medians. keel's peak RSS is from
 * the same build of (b) run by build() in a fresh Node process (bench/keel-run.js).
 *
 * Needs the test environment: `bash scripts/test-env.sh start` prints KEEL_DOCKER_HOST and KEEL_REGISTRY.
 * Usage: npm run bench:stages [rounds]
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { DOCKER, median, settle, testEnvironment } = require('./lib.js');

const ROUNDS = Number(process.argv[2] ?? 3);
const WORK_ROOT = join(__dirname, '.work-stages');
const WORK = join(WORK_ROOT, String(process.pid));
const CACHE = join(WORK, 'cache');
const { registry: REGISTRY, env } = testEnvironment('bench/stages.js', ['dockerHost', 'registry']);
const BASE = `${REGISTRY}/keel-bench/busybox:1`;
const KEEL = join(__dirname, '..', 'dist', 'cli', 'main.js');

/** The busybox base, imported into docker and pushed to the local registry. */
function makeBase() {
  const rootfs = join(WORK, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const a of ['sh', 'sleep', 'echo', 'head', 'gzip', 'wc', 'cat']) symlinkSync('busybox', join(rootfs, 'bin', a));
  execFileSync('tar', ['-C', rootfs, '-cf', join(WORK, 'rootfs.tar'), '.']);
  execFileSync(DOCKER, ['import', '-c', 'ENV PATH=/bin', join(WORK, 'rootfs.tar'), BASE], { env, stdio: 'ignore' });
  execFileSync(DOCKER, ['push', BASE], { env, stdio: 'ignore' });
}

function context(name, stage) {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  const stages = [0, 1, 2, 3].map((i) => `FROM ${BASE} AS s${i}\n${stage(i)}\n`).join('');
  const last = `FROM ${BASE}\n${[0, 1, 2, 3].map((i) => `COPY --from=s${i} /out${i} /out${i}\n`).join('')}`;
  writeFileSync(join(dir, 'Dockerfile'), stages + last);
  return dir;
}

/** Like lib.js's timed(), but the failure's output goes into the error (a build of this benchmark fails only by a bug). */
function timed(cmd, args) {
  settle();
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return performance.now() - t0;
}
const dockerBuild = (ctx) => timed(DOCKER, ['build', '--network=host', '-q', '--no-cache', '-t', 'keel-bench-stages:docker', ctx]);
const keelBuild = (ctx, extra = []) => timed(process.execPath, [KEEL, 'build', '-q', '--no-cache', '--cache-dir', CACHE, ...extra, ctx]);

function main() {
  mkdirSync(WORK, { recursive: true });
  makeBase();
  const sleeps = context('sleeps', (i) => `RUN sleep 1 && echo ${i} > /out${i}`);
  const cpu = context('cpu', (i) => `RUN head -c 50000000 /dev/urandom | gzip -9 | wc -c > /out${i}`);
  // base present on both sides, and one round not counted
  timed(process.execPath, [KEEL, 'build', '-q', '--cache-dir', CACHE, sleeps]);
  dockerBuild(sleeps);
  keelBuild(sleeps);
  const r = { a: { keel: [], docker: [] }, b: { keel: [], docker: [] }, c: { keel: [] } };
  for (let i = 0; i < ROUNDS; i++) {
    r.a.keel.push(keelBuild(sleeps));
    r.a.docker.push(dockerBuild(sleeps));
    r.b.keel.push(keelBuild(cpu));
    r.b.docker.push(dockerBuild(cpu));
    r.c.keel.push(keelBuild(sleeps, ['--max-parallelism', '1']));
  }
  settle();
  const inProcess = spawnSync(process.execPath, [join(__dirname, 'keel-run.js'), JSON.stringify({ options: { context: cpu, cacheDir: CACHE, noCache: true } })], { encoding: 'utf8' });
  if (inProcess.status !== 0) throw new Error(`keel-run failed: ${inProcess.stderr}`);
  const rss = JSON.parse(inProcess.stdout).rss;

  const row = (name, k, d) =>
    console.log(`${name.padEnd(52)} keel ${median(k).toFixed(0).padStart(6)} ms   docker ${d ? median(d).toFixed(0).padStart(6) : '     -'} ms${d ? `   keel/docker ${(median(k) / median(d)).toFixed(2)}` : ''}`);
  console.log(`four independent stages and a stage that copies from each; ${ROUNDS} rounds, medians; CLI, base present, --no-cache; node ${process.version}, ${require('node:os').availableParallelism()} CPUs`);
  row('(a) each RUN sleeps 1 s', r.a.keel, r.a.docker);
  row('(b) each RUN gzip -9 of 50 MB of /dev/urandom', r.b.keel, r.b.docker);
  row('(c) (a) with keel --max-parallelism 1', r.c.keel);
  console.log(`keel peak RSS (build() of (b) in a fresh process) ${(rss / 1024 / 1024).toFixed(0)} MiB`);
  console.log(`each round (ms): (a) keel ${r.a.keel.map((x) => x.toFixed(0)).join(' ')}; docker ${r.a.docker.map((x) => x.toFixed(0)).join(' ')}; (b) keel ${r.b.keel.map((x) => x.toFixed(0)).join(' ')}; docker ${r.b.docker.map((x) => x.toFixed(0)).join(' ')}; (c) ${r.c.keel.map((x) => x.toFixed(0)).join(' ')}`);
  execFileSync(DOCKER, ['rmi', '-f', 'keel-bench-stages:docker', BASE], { env, stdio: 'ignore' });
  rmSync(WORK_ROOT, { recursive: true, force: true });
}

main();
