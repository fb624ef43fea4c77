#!/usr/bin/env node
// Build examples/hello into an OCI archive that `docker load` accepts, and show the result.
// Run from the repository after `npm run build`:
//   node examples/build.js [out.tar]
'use strict';
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const { build, DockerfileError, ParseError } = require('..'); // 'keel' when installed

async function main() {
  const out = process.argv[2] ?? join(tmpdir(), 'keel-hello.tar');
  const result = await build({
    context: join(__dirname, 'hello'),
    tags: ['keel-example/hello:1'],
    buildArgs: { GREETING: 'hi' },
    output: { type: 'oci-archive', path: out },
    onProgress: (e) => {
      if (e.type === 'step-done') console.log(`${e.name}  ${e.seconds.toFixed(2)}s`);
    },
  });
  console.log(`\nmanifest ${result.manifestDigest}`);
  console.log(`config   ${result.configDigest}`);
  for (const l of result.layers) console.log(`layer    ${l.digest} (${l.size} bytes)`);
  console.log(`wrote ${out}; try: docker load -i ${out}`);
}

main().catch((e) => {
  // Dockerfile problems say where they are
  if (e instanceof DockerfileError || e instanceof ParseError) console.error(e.format());
  else console.error(e);
  process.exitCode = 1;
});
