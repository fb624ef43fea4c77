#!/usr/bin/env node
// Build examples/hello on a base image and load it straight into the Docker daemon (the Engine
// API's image load over DOCKER_HOST, as `docker buildx build --load` does), then run it with docker.
// Run from the repository after `npm run build`:
//   node examples/load.js BASE          BASE: a registry image (127.0.0.1:5000/keel-test/debian:bookworm)
//   node examples/load.js NAME=ARCHIVE  or a `docker save` / OCI archive used for FROM NAME
'use strict';
const { join } = require('node:path');
const { build } = require('..'); // 'keel' when installed

async function main() {
  const base = process.argv[2];
  if (base === undefined) throw new Error('usage: node examples/load.js BASE | NAME=ARCHIVE');
  const [name, archive] = base.includes('=') ? base.split('=', 2) : [base, undefined];
  const result = await build({
    context: join(__dirname, 'hello'),
    tags: ['keel-example/hello:1'],
    buildArgs: { BASE: name },
    ...(archive === undefined ? {} : { baseImages: { [name]: archive } }),
    // host: the daemon's address; without it, Docker's default socket
    output: { type: 'docker', ...(process.env.DOCKER_HOST ? { host: process.env.DOCKER_HOST } : {}) },
  });
  for (const line of result.loaded ?? []) console.log(line); // Loaded image: keel-example/hello:1
  console.log('try: docker run --rm keel-example/hello:1');
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
