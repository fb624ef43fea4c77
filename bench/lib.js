/**
 * What the benchmarks share: the test environment's docker and registry, timing a command after
 * `sync` (so that neither side pays for writing back the other's files), medians.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');

const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** The test environment's settings (bash scripts/test-env.sh start), or an exit with a word on how to get them. */
function testEnvironment(name, needs) {
  const found = {
    dockerHost: process.env.KEEL_DOCKER_HOST ?? process.env.DOCKER_HOST,
    registry: process.env.KEEL_REGISTRY,
    debian: process.env.KEEL_DEBIAN_IMAGE,
  };
  if (needs.some((k) => !found[k])) {
    console.error(`${name} needs the test environment: run \`bash scripts/test-env.sh start\` and export what it prints`);
    process.exit(2);
  }
  return { ...found, env: { ...process.env, DOCKER_HOST: found.dockerHost, DOCKER_BUILDKIT: '1' } };
}

/** Dirty pages of the previous build are written back before the next one is timed. */
const settle = () => execFileSync('sync');

/** Milliseconds `cmd args` takes, after settle(); a failure ends the benchmark with its output. */
function timed(cmd, args, env) {
  settle();
  const t0 = performance.now();
  execFileSync(cmd, args, { env: env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] });
  return performance.now() - t0;
}

/** The RUN bench's Dockerfile on `base`: 20 small RUNs (each needs mkdir, echo, cp and /etc/os-release), one RUN writing 5,000 files. */
function runBenchDockerfile(base) {
  const lines = [`FROM ${base}`];
  for (let i = 1; i <= 20; i++) {
    lines.push(`RUN mkdir -p /opt/step${i} && echo ${i} > /opt/step${i}/a && echo "step ${i}" > /opt/step${i}/b && cp /etc/os-release /opt/step${i}/c`);
  }
  lines.push('RUN mkdir /opt/many && cd /opt/many && i=0 && while [ $i -lt 5000 ]; do i=$((i+1)); echo $i > f$i; done');
  return `${lines.join('\n')}\n`;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * `buildah bud` (Debian's buildah, overlay storage as root, runc: its default crun cannot start a
 * container on this kernel), the daemonless peer, as an argument list for timed(); undefined when
 * buildah is not installed. `registry`: a plain-HTTP registry its FROM pulls from.
 */
function buildahBud(ctx, tag, { noCache = false } = {}) {
  const path = (name) => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].map((d) => `${d}/${name}`).find((p) => existsSync(p));
  const buildah = path('buildah');
  const runc = path('runc');
  if (buildah === undefined || runc === undefined) return undefined;
  return [buildah, ['--storage-driver', 'overlay', 'bud', '--runtime', runc, '--layers', '--tls-verify=false', '--network', 'host', '-q', ...(noCache ? ['--no-cache'] : []), '-t', tag, ctx]];
}

module.exports = { DOCKER, testEnvironment, settle, timed, median, buildahBud, runBenchDockerfile };
