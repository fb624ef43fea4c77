#!/usr/bin/env node
/**
 * RUN-heavy build, keel vs docker build (BuildKit, overlay2), in one run (issue 5, SPEC.md section 9):
 * the Debian minbase base (scripts/debian-base.sh), 20 RUN steps each writing a few files, and one RUN
 * writing 5,000 files. Per round, alternating:
 * - cold: keel build({ noCache: true }) in a fresh Node process; docker build --no-cache. Both have the
 *   base image already (keel in its cache dir, pulled once before the rounds; docker in its store).
 * - warm, in-process: a second build() in that same process (everything cached);
 * - warm, CLI: `keel build` as a whole new process; docker build (cached) as a whole command.
 * No output is written by either side (docker keeps the image in its store, keel in its cache).
 * Where buildah is installed, `buildah bud --layers` (overlay storage, runc) runs as the daemonless
 * peer after keel's and docker's rounds (cold with --no-cache, warm cached; base pulled first).
 * Each timed build starts after `sync`, so neither side pays for writing back the other's files, and
 * one cold round of each runs before the counted ones. Work folders are deleted at the end, never
 * before timing (see WORK).
 *
 * Needs the test environment: `bash scripts/test-env.sh start` prints KEEL_DOCKER_HOST, KEEL_REGISTRY
 * and KEEL_DEBIAN_IMAGE. Usage: npm run build && node bench/run.js [rounds]
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { mkdirSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { DOCKER, buildahBud, median, runBenchDockerfile, settle, testEnvironment, timed } = require('./lib.js');

const ROUNDS = Number(process.argv[2] ?? 3);
// a folder of this run's own: deleting a previous run's hundreds of thousands of files first left
// the file system busy (ext4 with online discard) and slowed the next minute of keel's builds, so
// work folders are removed when the run ends instead
const WORK_ROOT = join(__dirname, '.work-run');
const WORK = join(WORK_ROOT, String(process.pid));
const CTX = join(WORK, 'ctx');
const CACHE = join(WORK, 'cache');
const { debian: BASE, env } = testEnvironment('bench/run.js', ['dockerHost', 'debian']);
const REGISTRY = BASE.split('/')[0];

function generate() {
  mkdirSync(CTX, { recursive: true });
  writeFileSync(join(CTX, 'Dockerfile'), runBenchDockerfile(BASE));
}

const options = { context: CTX, cacheDir: CACHE, tags: ['keel-bench-run:1'], insecureRegistries: [REGISTRY] };

function keelProcess(runs) {
  settle();
  const r = spawnSync(process.execPath, [join(__dirname, 'keel-run.js'), JSON.stringify({ options, runs })], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`keel failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}


const dockerBuild = (noCache) => timed(DOCKER, ['build', '--network=host', '-q', ...(noCache ? ['--no-cache'] : []), '-t', 'keel-bench-run:docker', CTX], env);
/** buildah, where installed: the daemonless peer (bench/lib.js). */
const buildah = (noCache) => {
  const cmd = buildahBud(CTX, 'keel-bench-run:buildah', { noCache });
  return cmd === undefined ? undefined : timed(cmd[0], cmd[1]);
};
const keelCli = () => timed(process.execPath, [join(__dirname, '..', 'dist', 'cli', 'main.js'), 'build', '-q', '--cache-dir', CACHE, '--insecure-registry', REGISTRY, '-t', 'keel-bench-run:1', CTX]);

function main() {
  generate();
  keelProcess([{}]); // pulls the base into keel's cache dir, as docker has it in its store
  dockerBuild(false);
  // one round not counted, for both
  keelProcess([{ noCache: true }]);
  dockerBuild(true);
  const r = { cold: { keel: [], docker: [], buildah: [] }, warm: { keel: [], docker: [], buildah: [] }, cli: { keel: [] } };
  let rss = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const k = keelProcess([{ noCache: true }, {}]);
    r.cold.keel.push(k.ms[0]);
    r.warm.keel.push(k.ms[1]);
    rss = Math.max(rss, k.rss);
    r.cold.docker.push(dockerBuild(true));
    r.cli.keel.push(keelCli());
    r.warm.docker.push(dockerBuild(false));
  }
  // buildah after the others, not between them: its --no-cache builds delete their containers'
  // files, and on a disk that discards online that slows the next minute of everyone's writes
  if (buildah(false) !== undefined) { // pulls the base into buildah's storage
    buildah(true);
    for (let i = 0; i < ROUNDS; i++) {
      r.cold.buildah.push(buildah(true));
      r.warm.buildah.push(buildah(false));
    }
  }
  const row = (name, k, d, b) => console.log(`${name.padEnd(40)} keel ${median(k).toFixed(0).padStart(6)} ms   docker ${median(d).toFixed(0).padStart(6)} ms   keel/docker ${(median(k) / median(d)).toFixed(2)}${b !== undefined && b.length > 0 ? `   buildah ${median(b).toFixed(0).padStart(6)} ms   keel/buildah ${(median(k) / median(b)).toFixed(2)}` : ''}`);
  console.log(`Debian minbase + 20 small RUNs + one RUN writing 5,000 files; ${ROUNDS} rounds, medians; node ${process.version}`);
  row('cold (no cache; base present)', r.cold.keel, r.cold.docker, r.cold.buildah);
  row('warm, build() in a running process', r.warm.keel, r.warm.docker, r.warm.buildah);
  row('warm, keel CLI process', r.cli.keel, r.warm.docker, r.warm.buildah);
  console.log(`keel peak RSS ${(rss / 1024 / 1024).toFixed(0)} MiB`);
  console.log(`each round (ms): keel cold ${r.cold.keel.map((x) => x.toFixed(0)).join(" ")}; docker cold ${r.cold.docker.map((x) => x.toFixed(0)).join(" ")}`);
  execFileSync(DOCKER, ['rmi', '-f', 'keel-bench-run:docker'], { env, stdio: 'ignore' });
  rmSync(WORK_ROOT, { recursive: true, force: true }); // this run's folder and any a crashed run left
}

main();
