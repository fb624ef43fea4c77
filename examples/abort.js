#!/usr/bin/env node
// Stop a build from outside: an AbortSignal (here Ctrl-C, or a time limit) ends it with a KeelError
// of code E_ABORTED; nothing half-written is kept (an earlier archive at the output path stays).
// Run from the repository after `npm run build`:
//   node examples/abort.js [MILLISECONDS]
'use strict';
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const { build, isKeelError } = require('..'); // 'keel' when installed

async function main() {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  const limit = Number(process.argv[2] ?? 1);
  const timer = setTimeout(() => ac.abort(), limit);
  try {
    const result = await build({
      context: join(__dirname, 'hello'),
      cacheDir: join(tmpdir(), 'keel-example-cache'),
      noCache: true,
      output: { type: 'oci-archive', path: join(tmpdir(), 'keel-abort-example.tar') },
      signal: ac.signal,
    });
    console.log(`finished within ${limit} ms: ${result.configDigest}`);
  } catch (e) {
    if (!isKeelError(e, 'E_ABORTED')) throw e;
    console.log(`aborted after ${limit} ms: ${e.message}`);
  } finally {
    clearTimeout(timer);
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
