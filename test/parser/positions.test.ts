/** Exact 1-based ranges (end exclusive, columns in UTF-16 units) for every kind of token. */
import { parse } from '../../src';
import type { Range } from '../../src';

const r = (l1: number, c1: number, l2: number, c2: number): Range => ({ start: { line: l1, col: c1 }, end: { line: l2, col: c2 } });

const text = [
  '# syntax=docker/dockerfile:1', // 1
  '# base image', //                 2
  '  FROM --platform=$P alpine AS build', // 3
  'COPY --chown="a b" \\', //        4
  '  src/ \\', //                    5
  '  /dst/', //                      6
  'RUN ["echo", "hi"]', //           7
  'ENV A=1 B="x y"', //              8
  'RUN <<EOF cat', //                9
  'body', //                         10
  'EOF', //                          11
].join('\n') + '\n';

describe('ranges', () => {
  const ast = parse(text);
  const [from, copy, run, env, heredocRun] = ast.instructions;

  test('directives and comments', () => {
    expect(ast.directives).toEqual([{ name: 'syntax', value: 'docker/dockerfile:1', range: r(1, 1, 1, 29) }]);
    expect(ast.comments).toEqual([{ text: 'base image', range: r(2, 1, 2, 13) }]);
    expect(from?.comments).toEqual(['base image']);
  });

  test('an indented FROM: keyword, flag, arguments', () => {
    expect(from?.range).toEqual(r(3, 3, 3, 37));
    expect(from?.keyword.range).toEqual(r(3, 3, 3, 7));
    expect(from?.flags.map((f) => [f.raw, f.range])).toEqual([['--platform=$P', r(3, 8, 3, 21)]]);
    expect(from?.args.map((a) => [a.value, a.range])).toEqual([
      ['alpine', r(3, 22, 3, 28)], ['AS', r(3, 29, 3, 31)], ['build', r(3, 32, 3, 37)],
    ]);
  });

  test('a COPY continued over three lines', () => {
    expect(copy?.range).toEqual(r(4, 1, 6, 8));
    expect(copy?.flags.map((f) => [f.raw, f.range])).toEqual([['--chown=a b', r(4, 6, 4, 19)]]);
    expect(copy?.args.map((a) => [a.value, a.range])).toEqual([['src/', r(5, 3, 5, 7)], ['/dst/', r(6, 3, 6, 8)]]);
  });

  test('JSON arguments point at their string literals', () => {
    expect(run?.args.map((a) => [a.value, a.range])).toEqual([['echo', r(7, 6, 7, 12)], ['hi', r(7, 14, 7, 18)]]);
  });

  test('ENV keys, values and separators', () => {
    expect(env?.kind === 'ENV' && env.pairs.map((p) => [p.key.range, p.value.value, p.value.range])).toEqual([
      [r(8, 5, 8, 6), '1', r(8, 7, 8, 8)],
      [r(8, 9, 8, 10), '"x y"', r(8, 11, 8, 16)],
    ]);
  });

  test('a heredoc covers its body and terminator', () => {
    expect(heredocRun?.range).toEqual(r(9, 1, 11, 4));
    expect(heredocRun?.heredocs.map((h) => [h.name, h.content, h.range])).toEqual([['EOF', 'body\n', r(10, 1, 11, 4)]]);
  });

  test('columns count UTF-16 code units after a BOM', () => {
    const [, label] = parse('\ufeffFROM a\nLABEL é😀=1 x=2\n').instructions;
    expect(label?.kind === 'LABEL' && label.pairs.map((p) => p.key.range)).toEqual([r(2, 7, 2, 10), r(2, 13, 2, 14)]);
  });
});
