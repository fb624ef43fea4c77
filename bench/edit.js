#!/usr/bin/env node
/**
 * The everyday loop (issue 12), keel vs docker build (BuildKit, overlay2), through each CLI: the
 * Debian minbase base, a big RUN (offline: it copies the base's /usr/lib and /usr/share, a layer of
 * the size an `apt-get install` makes), then WORKDIR, three COPYs of a source tree and a small RUN.
 * Start state "base present" with the big RUN cached on both sides (built once before the rounds).
 * Per round, alternating: a rebuild after one source file changed, then a no-change rebuild. Also,
 * once: the cold WORKDIR right after the cached big RUN (a new WORKDIR path each time).
 * No output is written by either side (docker keeps the image in its store, keel in its cache).
 * Where buildah is installed, `buildah bud --layers` runs the same states as the daemonless peer.
 *
 * Needs the test environment: `bash scripts/test-env.sh start` prints KEEL_DOCKER_HOST and
 * KEEL_DEBIAN_IMAGE. Usage: npm run bench:edit [rounds]
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdirSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { DOCKER, buildahBud, median, testEnvironment, timed } = require('./lib.js');

const ROUNDS = Number(process.argv[2] ?? 5);
const WORK_ROOT = join(__dirname, '.work-edit');
const WORK = join(WORK_ROOT, String(process.pid));
const CTX = join(WORK, 'ctx');
const CACHE = join(WORK, 'cache');
const { debian: BASE, env } = testEnvironment('bench/edit.js', ['dockerHost', 'debian']);
const REGISTRY = BASE.split('/')[0];
const KEEL = join(__dirname, '..', 'dist', 'cli', 'main.js');

/** A value of this run's own: docker's build cache outlives the run, and must not know these states. */
const RUN_ID = `${process.pid}-${Date.now()}`;

function dockerfile(workdir) {
  return [
    `FROM ${BASE}`,
    'RUN mkdir -p /opt/big && cp -a /usr/lib /opt/big/lib && cp -a /usr/share /opt/big/share',
    `WORKDIR ${workdir}`,
    'COPY package.json ./',
    'COPY src ./src',
    'COPY README.md ./',
    'RUN ls -R . > listing',
  ].join('\n') + '\n';
}

function generate() {
  mkdirSync(join(CTX, 'src'), { recursive: true });
  for (let d = 0; d < 10; d++) {
    mkdirSync(join(CTX, 'src', `m${d}`), { recursive: true });
    for (let f = 0; f < 30; f++) writeFileSync(join(CTX, 'src', `m${d}`, `f${f}.js`), `export const v = ${d * 100 + f};\n`.repeat(20));
  }
  writeFileSync(join(CTX, 'package.json'), `{"name":"app","version":"1.0.0","run":"${RUN_ID}"}\n`);
  writeFileSync(join(CTX, 'README.md'), '# app\n');
  writeFileSync(join(CTX, 'Dockerfile'), dockerfile('/app'));
}

const docker = () => timed(DOCKER, ['build', '--network=host', '-q', '-t', 'keel-bench-edit:docker', CTX], env);
const buildah = () => {
  const cmd = buildahBud(CTX, 'keel-bench-edit:buildah');
  return cmd === undefined ? undefined : timed(cmd[0], cmd[1]);
};
const keel = () => timed(process.execPath, [KEEL, 'build', '-q', '--cache-dir', CACHE, '--insecure-registry', REGISTRY, CTX]);

function main() {
  generate();
  keel();
  docker();
  buildah();
  const r = { none: { keel: [], docker: [], buildah: [] }, one: { keel: [], docker: [], buildah: [] } };
  for (let i = 0; i < ROUNDS; i++) {
    // both sides see the same states: one file edited, then nothing changed
    writeFileSync(join(CTX, 'src', 'm3', 'f7.js'), `export const v = ${Date.now()}; // round ${i}\n`); // new to both caches
    r.one.keel.push(keel());
    r.one.docker.push(docker());
    const b1 = buildah();
    if (b1 !== undefined) r.one.buildah.push(b1);
    r.none.keel.push(keel());
    r.none.docker.push(docker());
    const b0 = buildah();
    if (b0 !== undefined) r.none.buildah.push(b0);
  }
  // the cold WORKDIR after the cached big RUN: a path neither side has seen
  writeFileSync(join(CTX, 'Dockerfile'), dockerfile(`/fresh-keel-${RUN_ID}`));
  const coldKeel = keel();
  writeFileSync(join(CTX, 'Dockerfile'), dockerfile(`/fresh-docker-${RUN_ID}`));
  const coldDocker = docker();
  const row = (name, k, d, b) => console.log(`${name.padEnd(46)} keel ${median(k).toFixed(0).padStart(6)} ms   docker ${median(d).toFixed(0).padStart(6)} ms   keel/docker ${(median(k) / median(d)).toFixed(2)}${b !== undefined && b.length > 0 ? `   buildah ${median(b).toFixed(0).padStart(6)} ms   keel/buildah ${(median(k) / median(b)).toFixed(2)}` : ''}`);
  console.log(`Debian minbase + a big cached RUN + WORKDIR + 3 COPYs + a small RUN; ${ROUNDS} rounds, medians; CLI, base present; node ${process.version}`);
  row('no change', r.none.keel, r.none.docker, r.none.buildah);
  row('one source file changed', r.one.keel, r.one.docker, r.one.buildah);
  row('a new WORKDIR after the cached big RUN (once)', [coldKeel], [coldDocker]);
  console.log(`each round (ms): no change keel ${r.none.keel.map((x) => x.toFixed(0)).join(' ')}; docker ${r.none.docker.map((x) => x.toFixed(0)).join(' ')}; one file keel ${r.one.keel.map((x) => x.toFixed(0)).join(' ')}; docker ${r.one.docker.map((x) => x.toFixed(0)).join(' ')}`);
  execFileSync(DOCKER, ['rmi', '-f', 'keel-bench-edit:docker'], { env, stdio: 'ignore' });
  rmSync(WORK_ROOT, { recursive: true, force: true });
}

main();
