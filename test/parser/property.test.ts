/**
 * Random and mutated Dockerfiles never crash the parser (only ParseError / ExpansionError ever
 * leave it), every range it reports lies inside the text, and pathological 1 MB inputs parse in
 * time linear in their size.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { dump, expandWord, expandWords, ExpansionError, parse, ParseError } from '../../src';
import type { Range } from '../../src';
import { REALWORLD_DIR } from '../support/conformance';

// characters that matter to the lexer, plus some that matter to Go-vs-JS differences
const ALPHABET = ['\\', '`', '\n', '\r\n', ' ', '\t', '"', "'", '$', '{', '}', '<<', '-', '#', '[', ']', '=', ',',
  ':', '/', '*', '?', '%', 'EOF', 'RUN ', 'COPY ', 'FROM ', 'ENV ', 'ONBUILD ', '--', 'a', '0', '\u00a0', '\u0085', '\ufeff', 'é', '😀'];
const dockerish = fc.array(fc.constantFrom(...ALPHABET), { maxLength: 80 }).map((a) => a.join(''));

function rangesOf(value: unknown, out: Range[] = []): Range[] {
  if (Array.isArray(value)) for (const v of value) rangesOf(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'range') out.push(v as Range);
      else rangesOf(v, out);
    }
  }
  return out;
}

function checkParse(text: string): void {
  const ast = parse(text, { recover: true });
  expect(() => dump(ast)).not.toThrow();
  const lines = text.split('\n').length;
  for (const r of rangesOf(ast)) {
    expect(r.start.line).toBeGreaterThanOrEqual(1);
    expect(r.end.line).toBeLessThanOrEqual(lines);
    expect(r.start.line < r.end.line || (r.start.line === r.end.line && r.start.col <= r.end.col)).toBe(true);
  }
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
  }
}

describe('parser robustness', () => {
  test('random Dockerfile-like text never crashes', () => {
    fc.assert(fc.property(dockerish, (text) => checkParse(text)), { numRuns: 3000 });
  });

  test('arbitrary unicode never crashes', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => checkParse(text)), { numRuns: 1000 });
  });

  const corpus = existsSync(REALWORLD_DIR)
    ? readFileSync(join(REALWORLD_DIR, 'INDEX.tsv'), 'utf8').trim().split('\n').slice(1)
        .map((l) => readFileSync(join(REALWORLD_DIR, l.split('\t')[0] as string), 'utf8'))
    : ['FROM a\nRUN <<EOF\necho\nEOF\nCOPY --from=x a b\n'];

  test('mutated real-world Dockerfiles never crash', () => {
    const mutation = fc.record({
      file: fc.nat({ max: corpus.length - 1 }),
      edits: fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), del: fc.nat({ max: 8 }), ins: dockerish }), { maxLength: 6 }),
    });
    fc.assert(
      fc.property(mutation, ({ file, edits }) => {
        let text = corpus[file] as string;
        for (const e of edits) {
          const at = Math.floor(e.at * text.length);
          text = text.slice(0, at) + e.ins + text.slice(at + e.del);
        }
        checkParse(text);
      }),
      { numRuns: 400 },
    );
  });

  test('expandWord and expandWords only ever throw ExpansionError', () => {
    fc.assert(
      fc.property(dockerish, fc.constantFrom('\\', '`') as fc.Arbitrary<'\\' | '`'>, fc.boolean(), (word, escape, raw) => {
        for (const fn of [expandWord, expandWords]) {
          try {
            fn(word, { a: 'x y', EOF: '' }, { escape, rawQuotes: raw, skipUnsetEnv: raw });
          } catch (e) {
            expect(e).toBeInstanceOf(ExpansionError);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parser time is linear in input size', () => {
  // Each shape is repeated to 256 KiB and to 1 MiB; the larger must not cost more than ~4x
  // (generous slack for a noisy machine; a quadratic parser would be ~16x).
  const shapes: Record<string, string> = {
    instructions: 'RUN apt-get update && apt-get install -y curl\nCOPY --chown=a:b src/ /app/\nENV A=1 B="two words"\n',
    continuations: 'RUN echo a \\\n  && echo b \\\n# comment\n\n  && echo c\n',
    heredocs: 'RUN <<EOF cat <<-EOT\nbody line\nEOF\n\tbody\n\tEOT\n',
    comments: '# a comment line that goes on\n',
    quotes: 'ENV a="\\"\\"\\"\\"" b=\'x\' c=$d${e:-f}\n',
  };
  const long: Record<string, (n: number) => string> = {
    'one long continued line': (n) => 'FROM a\nRUN ' + 'x \\\n'.repeat(n / 4) + 'y\n',
    'carriage returns': (n) => 'FROM a\n' + ('RUN ' + '\r'.repeat(60000) + 'x\n').repeat(Math.max(1, Math.floor(n / 60006))),
    'directive padding': (n) => '# syntax=x' + ' '.repeat(Math.min(n, 60000)) + 'y\nFROM a\n',
  };

  const time = (text: string): number => {
    const t0 = process.hrtime.bigint();
    parse(text, { recover: true });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  // the fastest of five: another test file running beside this one (jest's workers share two cores)
  // only ever adds time, so the least is the parser's own
  const fastest = (text: string): number => Math.min(...[0, 1, 2, 3, 4].map(() => time(text)));

  test.each(Object.entries(shapes))('%s', (_name, unit) => {
    const small = 'FROM a\n' + unit.repeat(Math.ceil(256 * 1024 / unit.length));
    const big = 'FROM a\n' + unit.repeat(Math.ceil(1024 * 1024 / unit.length));
    time(small);
    const ts = fastest(small);
    const tb = fastest(big);
    expect(tb).toBeLessThan(Math.max(ts, 5) * 8);
    expect(tb).toBeLessThan(5000);
  });

  test.each(Object.entries(long))('%s', (_name, make) => {
    expect(time(make(1024 * 1024))).toBeLessThan(5000);
  });
});
