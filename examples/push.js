#!/usr/bin/env node
// Build examples/hello and push it to the registry its name points at (credentials from Docker's
// config.json, or `auth`); a loopback registry speaks plain HTTP.
// Run from the repository after `npm run build`:
//   node examples/push.js 127.0.0.1:5000/keel-example/hello:1
'use strict';
const { join } = require('node:path');
const { build, isKeelError } = require('..'); // 'keel' when installed

async function main() {
  const name = process.argv[2];
  if (name === undefined) throw new Error('usage: node examples/push.js REGISTRY/NAME:TAG');
  const result = await build({ context: join(__dirname, 'hello'), tags: [name], output: { type: 'registry' } });
  for (const p of result.pushed ?? []) console.log(`pushed ${p.reference}@${p.digest}`);
}

main().catch((e) => {
  // registry problems have their own codes: E_AUTH (credentials), E_REGISTRY (unreachable, refused)
  console.error(isKeelError(e) ? `${e.code}: ${e.message}` : e);
  process.exitCode = 1;
});
