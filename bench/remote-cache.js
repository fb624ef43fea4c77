#!/usr/bin/env node
/**
 * A cache shared by a fleet of runners (issue 14), "two machines" being two cache folders on this
 * host and the test environment's registry. Machine A builds the RUN bench (Debian minbase, a COPY of
 * 300 source files, 20 small RUNs, one RUN writing 5,000 files) and exports its cache to the
 * registry; machine B starts empty (a fresh runner: the base is pulled too) and builds the same
 * commit:
 * - keel B, no remote cache:      `keel build -o type=oci,tar=false,dest=…` on an empty cache folder;
 * - keel B, --cache-from:         the same, with `--cache-from type=registry,ref=…` (A: `--cache-to …,mode=max`);
 * - keel B, --cache-from, --push: the image pushed to A's repository (no layer fetched at all);
 * - docker B, --cache-from:       `docker build --cache-from IMAGE` after A's `docker build --build-arg
 *   BUILDKIT_INLINE_CACHE=1` and push, from an emptied docker (`docker builder prune -af`, images removed);
 * then the second figure: B again, fresh, after a one-file change in the copied sources.
 * Each timed build starts after `sync` and QUIET seconds after the last deletion (this VM's disk
 * discards online: see bench/RESULTS.md), keel and docker taking turns to go first.
 *
 * Needs the test environment (`bash scripts/test-env.sh start`). Usage: npm run build && node bench/remote-cache.js [rounds]
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdirSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { DOCKER, median, settle, testEnvironment } = require('./lib.js');

const ROUNDS = Number(process.argv[2] ?? 2);
const QUIET = Number(process.env.QUIET ?? 45);
const WORK = join(__dirname, '.work-remote-cache', String(process.pid));
const CTX = join(WORK, 'ctx');
const KEEL = join(__dirname, '..', 'dist', 'cli', 'main.js');
const { debian: BASE, registry: REGISTRY, env } = testEnvironment('bench/remote-cache.js', ['dockerHost', 'debian', 'registry']);
const CACHE_REF = `${REGISTRY}/keel-bench/remote-cache:cache`;
const IMAGE = `${REGISTRY}/keel-bench/remote-cache:1`;
const DOCKER_IMAGE = `${REGISTRY}/keel-bench/remote-cache:docker`;

function generate() {
  mkdirSync(join(CTX, 'src'), { recursive: true });
  for (let i = 0; i < 300; i++) writeFileSync(join(CTX, 'src', `f${i}.txt`), `source file ${i}\n`.repeat(20));
  const lines = [`FROM ${BASE}`];
  for (let i = 1; i <= 20; i++) lines.push(`RUN mkdir -p /opt/step${i} && echo ${i} > /opt/step${i}/a && cp /etc/os-release /opt/step${i}/c`);
  lines.push('RUN mkdir /opt/many && cd /opt/many && i=0 && while [ $i -lt 5000 ]; do i=$((i+1)); echo $i > f$i; done');
  lines.push('COPY src /src');
  lines.push('RUN ls /src | wc -l > /src-count');
  writeFileSync(join(CTX, 'Dockerfile'), `${lines.join('\n')}\n`);
}

const sleep = (s) => execFileSync('sleep', [String(s)]);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });

/** Milliseconds of `cmd args`, after sync; its stderr too (keel's step lines). */
function timed(cmd, args) {
  settle();
  const t0 = performance.now();
  const r = require('node:child_process').spawnSync(cmd, args, { env, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { ms, stderr: r.stderr };
}

const keel = (cache, extra) => timed(process.execPath, [KEEL, 'build', '--progress', 'plain', '--cache-dir', cache, '--insecure-registry', REGISTRY, ...extra, CTX]);
const misses = (stderr) => (stderr.match(/^#\d+ cache miss/gm) ?? []).length;

function emptyDocker() {
  run(DOCKER, ['rmi', '-f', DOCKER_IMAGE, 'keel-bench-rc:b', BASE], { stdio: 'ignore' });
  run(DOCKER, ['builder', 'prune', '-af'], { stdio: 'ignore' });
}

function main() {
  generate();
  // machine A, both sides: build and export
  keel(join(WORK, 'cache-a'), ['--cache-to', `type=registry,ref=${CACHE_REF},mode=max`, '-t', IMAGE, '--push']);
  run(DOCKER, ['build', '--network=host', '-q', '--build-arg', 'BUILDKIT_INLINE_CACHE=1', '-t', DOCKER_IMAGE, CTX]);
  run(DOCKER, ['push', DOCKER_IMAGE]);
  const r = { none: [], from: [], push: [], docker: [], editKeel: [], editDocker: [] };
  let missesEdit = 0;
  let n = 0;
  const fresh = () => join(WORK, `cache-b${++n}`);
  for (let i = 0; i < ROUNDS; i++) {
    const keelTurn = () => {
      sleep(QUIET);
      r.none.push(keel(fresh(), ['-o', `type=oci,tar=false,dest=${join(WORK, `out-${n}`)}`]).ms);
      sleep(QUIET);
      r.from.push(keel(fresh(), ['--cache-from', `type=registry,ref=${CACHE_REF}`, '-o', `type=oci,tar=false,dest=${join(WORK, `out-${n}`)}`]).ms);
      sleep(QUIET);
      r.push.push(keel(fresh(), ['--cache-from', `type=registry,ref=${CACHE_REF}`, '-t', IMAGE, '--push']).ms);
    };
    const dockerTurn = () => {
      emptyDocker();
      sleep(QUIET);
      r.docker.push(timed(DOCKER, ['build', '--network=host', '-q', '--cache-from', DOCKER_IMAGE, '-t', 'keel-bench-rc:b', CTX]).ms);
    };
    if (i % 2 === 0) { keelTurn(); dockerTurn(); } else { dockerTurn(); keelTurn(); }
  }
  // the second figure: one source file changed, B fresh again
  writeFileSync(join(CTX, 'src', 'f7.txt'), 'changed\n');
  sleep(QUIET);
  const edited = keel(fresh(), ['--cache-from', `type=registry,ref=${CACHE_REF}`, '-o', `type=oci,tar=false,dest=${join(WORK, `out-${n}`)}`]);
  r.editKeel.push(edited.ms);
  missesEdit = misses(edited.stderr);
  emptyDocker();
  sleep(QUIET);
  r.editDocker.push(timed(DOCKER, ['build', '--network=host', '-q', '--cache-from', DOCKER_IMAGE, '-t', 'keel-bench-rc:b', CTX]).ms);

  const ms = (xs) => `${median(xs).toFixed(0).padStart(6)} ms`;
  console.log(`remote cache: machine B fresh (empty cache, base pulled from the local registry); ${ROUNDS} rounds, medians; CLI; node ${process.version}; ${QUIET} s quiet before each`);
  console.log(`keel B, no remote cache (-o oci dir)            ${ms(r.none)}`);
  console.log(`keel B, --cache-from (-o oci dir)               ${ms(r.from)}   ${(median(r.none) / median(r.from)).toFixed(1)}x faster than without`);
  console.log(`keel B, --cache-from, --push to A's repository  ${ms(r.push)}`);
  console.log(`docker B, --cache-from (inline cache)           ${ms(r.docker)}   keel/docker ${(median(r.from) / median(r.docker)).toFixed(2)}`);
  console.log(`one source file changed, B fresh: keel ${ms(r.editKeel)} (${missesEdit} steps ran), docker ${ms(r.editDocker)}`);
  console.log(`each round (ms): keel none ${r.none.map((x) => x.toFixed(0)).join(' ')}; keel from ${r.from.map((x) => x.toFixed(0)).join(' ')}; keel push ${r.push.map((x) => x.toFixed(0)).join(' ')}; docker ${r.docker.map((x) => x.toFixed(0)).join(' ')}`);
  emptyDocker();
  rmSync(join(__dirname, '.work-remote-cache'), { recursive: true, force: true });
}

main();
