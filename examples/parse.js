#!/usr/bin/env node
// Parse a Dockerfile, walk its typed instructions, expand words the way the builder will,
// and print BuildKit's dump. Run from the repository after `npm run build`:
//   node examples/parse.js [examples/Dockerfile]
'use strict';
const { readFileSync } = require('node:fs');
const { parse, dump, expandWord, expandWords, ParseError } = require('..'); // 'keel' when installed

const file = process.argv[2] ?? `${__dirname}/Dockerfile`;
const ast = parse(readFileSync(file, 'utf8'), { filename: file });

const env = { NODE_VERSION: '20' };
for (const ins of ast.instructions) {
  const at = `${file}:${ins.range.start.line}:${ins.range.start.col}`;
  switch (ins.kind) {
    case 'FROM':
      console.log(`${at} stage ${ins.name ?? '(unnamed)'} from ${expandWord(ins.image.value, env)}`);
      break;
    case 'COPY':
      console.log(`${at} copy ${ins.sources.length} source(s) to ${ins.dest.value}${ins.from ? ` from stage ${ins.from}` : ''}`);
      break;
    case 'RUN':
      console.log(`${at} run (${ins.command.form} form${ins.heredocs.length ? ', heredoc' : ''}) mounts=${ins.mounts.length}`);
      break;
    case 'EXPOSE':
      console.log(`${at} expose ${ins.ports.flatMap((p) => expandWords(p.value, env)).join(' ')}`);
      break;
    default:
      console.log(`${at} ${ins.kind.toLowerCase()}`);
  }
}

console.log('\nBuildKit dump:');
process.stdout.write(dump(ast));

// Bad input: recover mode returns what it could read plus every error, with positions.
const bad = parse('FROM alpine\nCOPY --frm=build /a /b\nENV A\n', { recover: true });
for (const e of bad.errors) console.log(`\n${e.code} at ${e.range.start.line}:${e.range.start.col}: ${e.message}`);
try {
  parse('FROM alpine\nRUN ["echo", 1]\n');
} catch (e) {
  if (e instanceof ParseError) console.log(`thrown: ${e.format()}`);
}
