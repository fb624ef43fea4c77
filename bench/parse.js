#!/usr/bin/env node
/**
 * Times keel's parse(), and parse() + check() (BuildKit's build checks), against npm dockerfile-ast on (1) the real-world corpus in
 * ../shared/conformance/realworld and (2) a generated 10,000-instruction Dockerfile, in one
 * run, alternating (30 rounds by default, ROUNDS=n to change), and prints medians and the ratio dockerfile-ast / keel.
 * Usage: npm run bench:parse   (builds dist/ first)
 */
'use strict';
const { readFileSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { check, parse } = require('../dist');
const { DockerfileParser } = require('dockerfile-ast');

const ROUNDS = Number(process.env.ROUNDS ?? 30); // 15 rounds left the ratio swinging by ±10% between runs
const realworld = join(__dirname, '..', '..', 'shared', 'conformance', 'realworld');

function corpus() {
  if (!existsSync(realworld)) return [];
  return readFileSync(join(realworld, 'INDEX.tsv'), 'utf8').trim().split('\n').slice(1)
    .map((l) => readFileSync(join(realworld, l.split('\t')[0]), 'utf8'));
}

function generated(n) {
  const lines = ['# syntax=docker/dockerfile:1', 'ARG BASE=debian:bookworm', 'FROM ${BASE} AS build'];
  const shapes = [
    (i) => `RUN apt-get update && apt-get install -y --no-install-recommends pkg${i} \\\n    && rm -rf /var/lib/apt/lists/*`,
    (i) => `COPY --chown=app:app --chmod=644 src/file${i}.txt /app/src/`,
    (i) => `ENV VAR_${i}="value ${i}" PATH=/opt/bin${i}:$PATH`,
    (i) => `LABEL org.example.item${i}="item ${i}"`,
    (i) => `RUN --mount=type=cache,target=/root/.cache ["sh", "-c", "echo ${i}"]`,
    (i) => `WORKDIR /work/${i}`,
    (i) => `ARG OPT_${i}=default`,
    (i) => `RUN <<EOF\necho step ${i}\nls /\nEOF`,
    (i) => `EXPOSE ${1000 + (i % 60000)}/tcp`,
    (i) => `HEALTHCHECK --interval=30s CMD curl -f http://localhost:${i}/ || exit 1`,
  ];
  for (let i = 0; lines.length < n + 3; i++) lines.push(shapes[i % shapes.length](i));
  return lines.join('\n') + '\n';
}

function timeOnce(fn, inputs) {
  const t0 = process.hrtime.bigint();
  for (const text of inputs) fn(text);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const keel = (text) => parse(text, { recover: true });
const keelCheck = (text) => check(parse(text, { recover: true }));
const dast = (text) => DockerfileParser.parse(text).getInstructions();
// dockerfile-ast splits arguments lazily; this variant asks for what keel's AST holds eagerly
const dastFull = (text) => {
  for (const ins of DockerfileParser.parse(text).getInstructions()) {
    ins.getArguments();
    if (typeof ins.getFlags === 'function') ins.getFlags();
  }
};

function bench(name, inputs) {
  const bytes = inputs.reduce((n, t) => n + Buffer.byteLength(t), 0);
  for (let i = 0; i < 3; i++) { timeOnce(keel, inputs); timeOnce(keelCheck, inputs); timeOnce(dast, inputs); } // warm-up
  const k = [];
  const c = [];
  const d = [];
  const f = [];
  for (let r = 0; r < ROUNDS; r++) {
    k.push(timeOnce(keel, inputs));
    c.push(timeOnce(keelCheck, inputs));
    d.push(timeOnce(dast, inputs));
    f.push(timeOnce(dastFull, inputs));
  }
  const km = median(k);
  const cm = median(c);
  const dm = median(d);
  const fm = median(f);
  console.log(`${name}: ${inputs.length} file(s), ${(bytes / 1024).toFixed(0)} KiB`);
  console.log(`  keel parse (typed AST, ranges)       ${km.toFixed(2)} ms`);
  console.log(`  dockerfile-ast parse                 ${dm.toFixed(2)} ms  -> keel ${(dm / km).toFixed(2)}x faster`);
  console.log(`  dockerfile-ast parse + args + flags  ${fm.toFixed(2)} ms  -> keel ${(fm / km).toFixed(2)}x faster`);
  console.log(`  keel parse + check() (22 rules)      ${cm.toFixed(2)} ms  -> ${(dm / cm).toFixed(2)}x faster than dockerfile-ast's parse alone`);
}

console.log(`node ${process.version}, ${ROUNDS} rounds, medians`);
const files = corpus();
if (files.length > 0) bench('real-world corpus', files);
bench('generated 10,000 instructions', [generated(10000)]);
console.log(`keel peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (whole process, both parsers loaded)`);
