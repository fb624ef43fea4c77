#!/usr/bin/env node
// Follow a build through its events: each step's start, its output lines, whether it came from
// the cache (and why not), its time. The same events the CLI draws (or prints as JSON lines with
// --progress=rawjson).
// Run from the repository after `npm run build`:
//   node examples/progress.js
'use strict';
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const { build } = require('..'); // 'keel' when installed

async function main() {
  const started = new Map();
  await build({
    context: join(__dirname, 'hello'),
    cacheDir: join(tmpdir(), 'keel-example-cache'),
    noCache: process.argv.includes('--no-cache'),
    onProgress: (e) => {
      switch (e.type) {
        case 'step-start':
          started.set(e.step, e.name);
          console.log(`start  #${e.step} ${e.name}`);
          break;
        case 'log':
          console.log(`output #${e.step} ${e.line}`);
          break;
        case 'step-done':
          console.log(`${e.cached ? 'cached' : 'done  '} #${e.step} ${e.seconds.toFixed(2)}s${e.reason ? ` (${e.reason})` : ''}`);
          break;
        case 'step-error':
          console.log(`error  #${e.step} ${e.message}`);
          break;
      }
    },
  });
  console.log(`${started.size} steps`);
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
