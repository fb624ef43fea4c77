import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandWord, expandWordWithMatches, expandWords, ExpansionError } from '../../src/parser/shell/lex';
import { BUILDKIT_DIR, describeConformance } from '../support/conformance';

const ENV_VAR_TEST_ENV = { PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' };

interface Vector {
  input: string;
  env: string[];
  escape?: string;
  mode: 'word' | 'words';
  rawQuotes?: boolean;
  skipUnsetEnv?: boolean;
  source: string;
  result?: string;
  words?: string[];
  error?: string;
  matched?: string[];
  unmatched?: string[];
}

function envOf(list: string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of list) {
    const i = e.indexOf('=');
    env.set(i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1));
  }
  return env;
}

describeConformance('BuildKit shell lexer conformance', () => {
  describe('envVarTest (ProcessWord)', () => {
    const rows = readFileSync(join(BUILDKIT_DIR, 'shell', 'envVarTest'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.split('|').map((f) => f.trim()))
      .filter((f) => f[0] === 'A' || f[0] === 'U');
    test('has the 228 Unix cases', () => expect(rows).toHaveLength(228));
    test.each(rows.map((r) => [r[1] as string, r[2] as string]))('%s', (input, expected) => {
      if (expected === 'error') {
        expect(() => expandWord(input, ENV_VAR_TEST_ENV)).toThrow(ExpansionError);
      } else {
        expect(expandWord(input, ENV_VAR_TEST_ENV)).toBe(expected);
      }
    });
  });

  describe('wordsTest (ProcessWords)', () => {
    const env: Record<string, string> = {};
    const cases: Array<[string, Record<string, string>, string[]]> = [];
    for (const line of readFileSync(join(BUILDKIT_DIR, 'shell', 'wordsTest'), 'utf8').split('\n')) {
      if (line.trim() === '' || line.startsWith('#')) continue;
      if (line.startsWith('ENV ')) {
        const kv = line.slice(4).trimStart();
        const i = kv.indexOf('=');
        env[kv.slice(0, i)] = kv.slice(i + 1);
        continue;
      }
      const [input, expected] = line.split('|') as [string, string];
      cases.push([input.trim(), { ...env }, expected.trimStart().split(',')]);
    }
    test('has the 24 cases', () => expect(cases).toHaveLength(24));
    test.each(cases)('%s', (input, caseEnv, expected) => {
      if (expected.length === 1 && expected[0] === 'error') {
        expect(() => expandWords(input, caseEnv)).toThrow(ExpansionError);
      } else {
        expect(expandWords(input, caseEnv)).toEqual(expected);
      }
    });
  });

  for (const file of ['envVarTest.json', 'wordsTest.json', 'lex_test_ProcessWithMatches.json']) {
    describe(`vectors/${file}`, () => {
      const vectors = JSON.parse(readFileSync(join(BUILDKIT_DIR, 'vectors', file), 'utf8')) as Vector[];
      test.each(vectors.map((v, i) => [i, v.input, v] as const))('#%d %s', (_i, _input, v) => {
        const options = {
          escape: (v.escape ?? '\\') as '\\' | '`',
          rawQuotes: v.rawQuotes ?? false,
          skipUnsetEnv: v.skipUnsetEnv ?? false,
        };
        const env = envOf(v.env);
        if (v.mode === 'words') {
          if (v.error !== undefined) {
            expect(() => expandWords(v.input, env, options)).toThrow(v.error);
          } else {
            expect(expandWords(v.input, env, options)).toEqual(v.words ?? []);
          }
          return;
        }
        if (v.error !== undefined) {
          expect(() => expandWordWithMatches(v.input, env, options)).toThrow(v.error);
          return;
        }
        const got = expandWordWithMatches(v.input, env, options);
        expect(got.result).toBe(v.result);
        expect([...got.matched].sort()).toEqual([...(v.matched ?? [])].sort());
        expect([...got.unmatched].sort()).toEqual([...(v.unmatched ?? [])].sort());
      });
    });
  }
});

describe('expandWord edge cases', () => {
  test.each([
    ['pre${UNSET:-x}post', {}, 'prexpost'],
    // ${v//p/r} uses Go's ReplaceAllString, which expands $$ and $0 in the replacement
    ['${A//b/$R}', { A: 'abc', R: '$$' }, 'a$c'],
    ['${A//b/$R}', { A: 'abc', R: '[$0]' }, 'a[b]c'],
    ['${A/b/$R}', { A: 'abc', R: '[$0]' }, 'a[$0]c'],
    ['${constructor}', {}, ''],
    ['\ufeff$A', { A: 'x' }, 'x'],
  ] as const)('%s', (input, env, expected) => {
    expect(expandWord(input, env)).toBe(expected);
  });

  test('words quirk: text before a nested ${...} is lost, as in BuildKit', () => {
    expect(expandWords('pre${UNSET:-x}post', {})).toEqual(['xpost']);
  });

  test('errors carry the word and BuildKit text', () => {
    try {
      expandWord('${A:=x}', {});
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(ExpansionError);
      expect((e as ExpansionError).code).toBe('E_EXPANSION');
      expect((e as ExpansionError).message).toBe('failed to process "${A:=x}": unsupported modifier (:=) in substitution');
    }
  });
});
