#!/usr/bin/env node
/**
 * Fresh runners (issue 12): a CI machine with an empty cache builds `FROM` the Debian minbase
 * image, which it pulls from the local registry. keel vs docker build (BuildKit, overlay2) and,
 * where installed, buildah bud --layers, through each CLI.
 * (1) FROM debian + RUN true; (2) the RUN bench (bench/run.js): 20 small RUNs and one writing
 * 5,000 files.
 * Start state "fresh runner" on every side: keel gets a new, empty cache folder; docker loses the
 * images (so the base's layers too) and its build cache (`docker image prune -af`, `docker rmi`,
 * `docker builder prune -af`); buildah loses
 * every image (`buildah rmi -af`). Removing images deletes hundreds of MB, and on this disk (ext4
 * with online discard) the next minute of writes is slower, so each round waits QUIET seconds
 * after the deletions before timing anything, and the sides take turns at going first; keel's cache folders are removed when the run ends.
 *
 * Needs the test environment: `bash scripts/test-env.sh start` prints KEEL_DOCKER_HOST and
 * KEEL_DEBIAN_IMAGE. Usage: npm run bench:fresh [rounds] (environment: QUIET=seconds, 60 by default)
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { DOCKER, buildahBud, median, settle, testEnvironment, timed } = require('./lib.js');

const ROUNDS = Number(process.argv[2] ?? 3);
const QUIET = Number(process.env.QUIET ?? 60);
const WORK = join(__dirname, '.work-fresh', String(process.pid));
const { debian: BASE, env } = testEnvironment('bench/fresh.js', ['dockerHost', 'debian']);
const REGISTRY = BASE.split('/')[0];
const KEEL = join(__dirname, '..', 'dist', 'cli', 'main.js');
const TIME = '/usr/bin/time';

const CASES = [
  { name: 'FROM debian + RUN true', lines: ['RUN true'] },
  {
    name: 'the RUN bench (20 small RUNs, one writing 5,000 files)',
    lines: [
      ...Array.from({ length: 20 }, (_, j) => `RUN mkdir -p /opt/step${j + 1} && echo ${j + 1} > /opt/step${j + 1}/a && echo "step ${j + 1}" > /opt/step${j + 1}/b && cp /etc/os-release /opt/step${j + 1}/c`),
      'RUN mkdir /opt/many && cd /opt/many && i=0 && while [ $i -lt 5000 ]; do i=$((i+1)); echo $i > f$i; done',
    ],
  },
];

function context(c, i) {
  const dir = join(WORK, `ctx-${i}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), `${[`FROM ${BASE}`, ...c.lines].join('\n')}\n`);
  return dir;
}

const quiet = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: 'ignore', ...opts });

/** Every side back to a fresh runner's state, then a quiet disk. */
function forget() {
  // every image: one that shares the base's layers (a test's leftover) would keep them stored
  quiet(DOCKER, ['image', 'prune', '-af'], { env });
  quiet(DOCKER, ['rmi', '-f', 'keel-bench-fresh:docker', BASE], { env });
  quiet(DOCKER, ['builder', 'prune', '-af'], { env });
  if (buildahBud('.', 'x') !== undefined) quiet('buildah', ['--storage-driver', 'overlay', 'rmi', '-af']);
  execFileSync('sync');
  execFileSync('sleep', [String(QUIET)]);
}

let round = 0;
/** keel with a new, empty cache folder: milliseconds and peak RSS (MiB). */
function keel(ctx) {
  const cache = join(WORK, `cache-${++round}`);
  const rssFile = join(WORK, 'rss');
  const ms = timed(TIME, ['-f', '%M', '-o', rssFile, process.execPath, KEEL, 'build', '-q', '--cache-dir', cache, '--insecure-registry', REGISTRY, ctx]);
  return { ms, rss: Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024 };
}

function main() {
  const hasBuildah = buildahBud('.', 'x') !== undefined;
  if (!existsSync(TIME)) throw new Error(`${TIME} is needed for peak RSS (apt-get install time)`);
  const rows = [];
  for (const [i, c] of CASES.entries()) {
    const ctx = context(c, i);
    const r = { keel: [], docker: [], buildah: [], rss: [] };
    for (let n = 0; n < ROUNDS; n++) {
      forget();
      const sides = [
        () => {
          const k = keel(ctx);
          r.keel.push(k.ms);
          r.rss.push(k.rss);
        },
        () => r.docker.push(timed(DOCKER, ['build', '--network=host', '-q', '-t', 'keel-bench-fresh:docker', ctx], env)),
        () => {
          const cmd = buildahBud(ctx, 'keel-bench-fresh:buildah');
          if (cmd !== undefined) r.buildah.push(timed(cmd[0], cmd[1]));
        },
      ];
      // whoever goes first is nearest the deletions: each side goes first in turn
      for (let j = 0; j < sides.length; j++) sides[(n + j) % sides.length]();
    }
    rows.push([c, r]);
  }
  settle();
  console.log(`fresh runner: FROM ${BASE} pulled from the local registry; ${ROUNDS} rounds, medians; CLI; node ${process.version}; ${QUIET} s quiet before each round`);
  for (const [c, r] of rows) {
    const k = median(r.keel);
    const d = median(r.docker);
    const b = hasBuildah ? `   buildah ${median(r.buildah).toFixed(0).padStart(6)} ms   keel/buildah ${(k / median(r.buildah)).toFixed(2)}` : '';
    console.log(`${c.name.padEnd(56)} keel ${k.toFixed(0).padStart(6)} ms   docker ${d.toFixed(0).padStart(6)} ms   keel/docker ${(k / d).toFixed(2)}${b}`);
  }
  console.log(`keel peak RSS ${Math.max(...rows.flatMap(([, r]) => r.rss)).toFixed(0)} MiB`);
  for (const [c, r] of rows) {
    console.log(`each round (ms), ${c.name}: keel ${r.keel.map((x) => x.toFixed(0)).join(' ')}; docker ${r.docker.map((x) => x.toFixed(0)).join(' ')}${hasBuildah ? `; buildah ${r.buildah.map((x) => x.toFixed(0)).join(' ')}` : ''}`);
  }
}

try {
  main();
} finally {
  rmSync(WORK, { recursive: true, force: true });
}
