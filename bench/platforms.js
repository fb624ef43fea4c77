#!/usr/bin/env node
/**
 * Two platforms in one build, keel vs docker build (BuildKit, overlay2), in one run (issue 15): the
 * RUN bench's Dockerfile (20 small RUNs, one RUN writing 5,000 files) on a busybox base for
 * linux/amd64 and linux/arm64, arm64's RUNs under QEMU (binfmt_misc). keel builds both platforms in
 * one `keel build --platform linux/amd64,linux/arm64`; docker 20.10's BuildKit exports one platform
 * per image, so docker's figure is `docker build --platform linux/amd64` then `--platform
 * linux/arm64`, one after the other (the sum), as a user of this docker would run it.
 *
 * Start state "base present", cold: the base index is in the local registry; before the rounds each
 * side pulls both platforms once (keel into its cache dir, docker into its store); every timed build
 * is `--no-cache`. Through the CLI as a user runs it; keel's in-process build() time and peak RSS
 * beside it. No output is written by either side.
 *
 * Needs the test environment with QEMU: `bash scripts/test-env.sh start` prints KEEL_DOCKER_HOST,
 * KEEL_REGISTRY and KEEL_BUSYBOX_ARM64. Usage: npm run build && node bench/platforms.js [rounds]
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const { copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { DOCKER, median, runBenchDockerfile, settle, testEnvironment, timed } = require('./lib.js');

const ROUNDS = Number(process.argv[2] ?? 3);
const WORK_ROOT = join(__dirname, '.work-platforms');
const WORK = join(WORK_ROOT, String(process.pid));
const CTX = join(WORK, 'ctx');
const CACHE = join(WORK, 'cache');
const { registry: REGISTRY, env } = testEnvironment('bench/platforms.js', ['dockerHost', 'registry']);
const ARM64_BUSYBOX = process.env.KEEL_BUSYBOX_ARM64;
if (ARM64_BUSYBOX === undefined) {
  console.error('bench/platforms.js needs KEEL_BUSYBOX_ARM64 (bash scripts/test-env.sh start, as root, registers QEMU and fetches it)');
  process.exit(2);
}
const BASE = `${REGISTRY}/keel-bench/busybox-multi:1`;
const CLI = join(__dirname, '..', 'dist', 'cli', 'main.js');
const PLATFORMS = ['linux/amd64', 'linux/arm64'];

/** The base: a busybox root folder per architecture, pushed as one index (keel builds it; it is input here, not timed). */
function pushBase() {
  const ctx = join(WORK, 'base');
  for (const [arch, binary] of [['amd64', '/bin/busybox'], ['arm64', ARM64_BUSYBOX]]) {
    const root = join(ctx, arch);
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'etc'));
    copyFileSync(binary, join(root, 'bin', 'busybox'));
    for (const applet of ['sh', 'mkdir', 'echo', 'cp', 'cat', 'true', 'uname']) symlinkSync('busybox', join(root, 'bin', applet));
    writeFileSync(join(root, 'etc', 'os-release'), 'NAME=busybox\n');
  }
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nARG TARGETARCH\nCOPY $TARGETARCH/ /\nENV PATH=/bin\n');
  execFileSync(process.execPath, [CLI, 'build', '-q', '--platform', PLATFORMS.join(','), '--push', '-t', BASE, '--cache-dir', join(WORK, 'base-cache'), ctx], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function generate() {
  mkdirSync(CTX, { recursive: true });
  writeFileSync(join(CTX, 'Dockerfile'), runBenchDockerfile(BASE));
}

const keelCli = () => timed(process.execPath, [CLI, 'build', '-q', '--no-cache', '--platform', PLATFORMS.join(','), '--cache-dir', CACHE, '-t', 'keel-bench-platforms:1', CTX]);
const dockerBuild = (platform) => timed(DOCKER, ['build', '--platform', platform, '--network=host', '-q', '--no-cache', '-t', `keel-bench-platforms:${platform.replace('/', '-')}`, CTX], env);

/** build() of both platforms in a fresh Node process (bench/keel-run.js): its time and peak RSS. */
function keelInProcess() {
  settle();
  const options = { context: CTX, cacheDir: CACHE, platforms: PLATFORMS, noCache: true };
  const r = spawnSync(process.execPath, [join(__dirname, 'keel-run.js'), JSON.stringify({ options })], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`keel failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function main() {
  mkdirSync(WORK, { recursive: true });
  pushBase();
  generate();
  // base present: both sides pull both platforms once, and one round of each is not counted
  keelInProcess();
  for (const p of PLATFORMS) dockerBuild(p);
  const r = { cli: [], inProcess: [], amd64: [], arm64: [], sum: [] };
  let rss = 0;
  for (let i = 0; i < ROUNDS; i++) {
    r.cli.push(keelCli());
    const k = keelInProcess();
    r.inProcess.push(k.ms[0]);
    rss = Math.max(rss, k.rss);
    const amd = dockerBuild('linux/amd64');
    const arm = dockerBuild('linux/arm64');
    r.amd64.push(amd);
    r.arm64.push(arm);
    r.sum.push(amd + arm);
  }
  const ms = (xs) => `${median(xs).toFixed(0).padStart(6)} ms`;
  console.log(`busybox base (amd64 + arm64 under QEMU) + 20 small RUNs + one RUN writing 5,000 files; base present, --no-cache; ${ROUNDS} rounds, medians; node ${process.version}`);
  console.log(`keel build --platform linux/amd64,linux/arm64 (CLI)   ${ms(r.cli)}`);
  console.log(`keel build() of both, in a fresh process             ${ms(r.inProcess)}   peak RSS ${(rss / 1024 / 1024).toFixed(0)} MiB`);
  console.log(`docker build --platform linux/amd64                   ${ms(r.amd64)}`);
  console.log(`docker build --platform linux/arm64                   ${ms(r.arm64)}`);
  console.log(`docker, both one after the other (sum)                ${ms(r.sum)}   keel CLI / docker sum ${(median(r.cli) / median(r.sum)).toFixed(2)}`);
  console.log(`each round (ms): keel CLI ${r.cli.map((x) => x.toFixed(0)).join(' ')}; docker sum ${r.sum.map((x) => x.toFixed(0)).join(' ')}`);
  execFileSync(DOCKER, ['rmi', '-f', ...PLATFORMS.map((p) => `keel-bench-platforms:${p.replace('/', '-')}`), BASE], { env, stdio: 'ignore' });
  rmSync(WORK_ROOT, { recursive: true, force: true });
}

main();
