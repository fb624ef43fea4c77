#!/usr/bin/env node
// Build examples/hello for two platforms into one OCI archive: an image index with one image per
// platform (FROM scratch has no RUN, so no emulator is needed; see the README's "Several platforms").
// Run from the repository after `npm run build`:
//   node examples/platforms.js [out.tar]
// then e.g. `skopeo inspect --raw oci-archive:out.tar`, or push it with output { type: 'registry' }.
'use strict';
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const { build } = require('..'); // 'keel' when installed

async function main() {
  const out = process.argv[2] ?? join(tmpdir(), 'keel-hello-platforms.tar');
  const result = await build({
    context: join(__dirname, 'hello'),
    tags: ['keel-example/hello:1'],
    platforms: ['linux/amd64', 'linux/arm64'],
    output: { type: 'oci-archive', path: out },
  });
  console.log(`index ${result.manifestDigest}`);
  for (const image of result.index.images) {
    const { os, architecture, variant } = image.config;
    console.log(`  ${[os, architecture, variant].filter(Boolean).join('/')}: manifest ${image.manifestBlob.digest}`);
  }
  console.log(`wrote ${out}`);
}

main().catch((e) => {
  console.error(e.format?.() ?? e);
  process.exitCode = 1;
});
