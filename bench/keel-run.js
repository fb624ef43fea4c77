#!/usr/bin/env node
// keel builds in a fresh Node process (as a user's tool would run them), for the benchmarks.
// Argument: JSON {"options": build() options, "runs": [overrides, one object per build]}: the builds
// run one after another in this process, each with the options and its overrides (a missing
// "runs" is one build). Prints {"ms": [each build() time], "rss": peak RSS in bytes} on stdout.
'use strict';
const { build } = require('../dist');

async function main() {
  const { options, runs = [{}] } = JSON.parse(process.argv[2]);
  const ms = [];
  for (const overrides of runs) {
    const t0 = performance.now();
    await build({ ...options, ...overrides });
    ms.push(performance.now() - t0);
  }
  process.stdout.write(JSON.stringify({ ms, rss: process.resourceUsage().maxRSS * 1024 }));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
