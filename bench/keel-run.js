#!/usr/bin/env node
// One keel build in a fresh Node process (as a user's tool would run it), for bench/build.js.
// Prints {"ms": build() time, "rss": peak RSS in bytes} on stdout.
'use strict';
const { build } = require('../dist');
const [context, cacheDir, type, path] = process.argv.slice(2);
const t0 = performance.now();
build({ context, cacheDir, tags: ['keel-bench:1'], output: { type, path } }).then(
  () => process.stdout.write(JSON.stringify({ ms: performance.now() - t0, rss: process.resourceUsage().maxRSS * 1024 })),
  (e) => {
    console.error(e);
    process.exitCode = 1;
  },
);
