/**
 * The parser against BuildKit's own test corpus and reference output, read straight from
 * ../shared/conformance (SPEC.md section 3).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump, parse, ParseError } from '../../src';
import type { Instruction, InvalidInstruction } from '../../src';
import { BUILDKIT_DIR, REALWORLD_DIR, describeConformance } from '../support/conformance';

const read = (...p: string[]): string => readFileSync(join(BUILDKIT_DIR, ...p), 'utf8');
const dirs = (...p: string[]): string[] => readdirSync(join(BUILDKIT_DIR, ...p)).sort();

interface AstChild {
  value: string;
  startLine: number;
  endLine: number;
  heredocs?: Array<{ Name: string; FileDescriptor: number; Expand: boolean; Chomp: boolean; Content: string }>;
  prevComment?: string[];
}
interface AstJson {
  error?: string;
  warnings?: string[];
  children?: AstChild[];
  instructions?: Array<{ startLine: number; command: string; error?: string }>;
}

/** The nodes BuildKit's parser made (everything but lines it rejected). */
const nodesOf = (instructions: ReadonlyArray<Instruction | InvalidInstruction>) =>
  instructions.filter((i) => !(i.kind === 'INVALID' && i.level === 'line'));

describeConformance('BuildKit parser conformance', () => {
  describe('testfiles: dump() is byte-exact', () => {
    const cases = dirs('testfiles');
    test('has the 33 cases', () => expect(cases).toHaveLength(33));
    test.each(cases)('%s', (name) => {
      const ast = parse(read('testfiles', name, 'Dockerfile'), { recover: true });
      expect(ast.errors.filter((e) => !['E_FLAG', 'E_UNKNOWN_INSTRUCTION', 'E_NO_STAGE', 'E_ARGUMENTS', 'E_VALUE'].includes(e.code))).toEqual([]);
      expect(dump(ast)).toBe(read('testfiles', name, 'result'));
    });
  });

  describe('testfiles: lines, heredocs, comments, warnings and instruction errors match BuildKit', () => {
    test.each(dirs('testfiles'))('%s', (name) => {
      const expected = JSON.parse(read('ast', 'testfiles', `${name}.json`)) as AstJson;
      const ast = parse(read('testfiles', name, 'Dockerfile'), { recover: true });
      const nodes = nodesOf(ast.instructions);
      expect(nodes.map((n) => [n.keyword.value, n.range.start.line, n.range.end.line])).toEqual(
        (expected.children ?? []).map((c) => [c.value, c.startLine, c.endLine]),
      );
      expect(nodes.map((n) => n.comments)).toEqual((expected.children ?? []).map((c) => c.prevComment ?? []));
      expect(ast.warnings.map((w) => w.message)).toEqual(expected.warnings ?? []);
      // every instruction-level error BuildKit reports, on the same line, with the same text
      const instructionErrors = ast.errors.filter((e) => e.code !== 'E_NO_STAGE').map((e) => [e.line, e.message]);
      const expectedErrors = (expected.instructions ?? []).filter((i) => i.error !== undefined).map((i) => [i.startLine, i.error]);
      expect(instructionErrors).toEqual(expectedErrors);
    });
  });

  describe('testfiles-negative are rejected', () => {
    const cases = dirs('testfiles-negative');
    test('has the 4 cases', () => expect(cases).toHaveLength(4));
    test.each(cases)('%s', (name) => {
      const expected = JSON.parse(read('ast', 'testfiles-negative', `${name}.json`)) as AstJson;
      let error: unknown;
      try {
        parse(read('testfiles-negative', name, 'Dockerfile'));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ParseError);
      expect((error as ParseError).message).toBe(expected.error);
    });
  });

  test('testfile-line: instruction line ranges are (5,5), (11,12), (17,31)', () => {
    const ast = parse(read('testfile-line', 'Dockerfile'), { recover: true });
    expect(ast.instructions.map((i) => [i.range.start.line, i.range.end.line])).toEqual([[5, 5], [11, 12], [17, 31]]);
  });

  describe('heredoc-tables: dump and heredoc bodies', () => {
    test.each(dirs('heredoc-tables'))('%s', (name) => {
      const ast = parse(read('heredoc-tables', name, 'Dockerfile'), { recover: true });
      expect(dump(ast)).toBe(read('heredoc-tables', name, 'result'));
      const expected = JSON.parse(read('heredoc-tables', name, 'ast.json')) as AstJson;
      const nodes = nodesOf(ast.instructions);
      expect(nodes.map((n) => [n.range.start.line, n.range.end.line])).toEqual(
        (expected.children ?? []).map((c) => [c.startLine, c.endLine]),
      );
      expect(nodes.map((n) => n.heredocs.map((h) => ({ Name: h.name, FileDescriptor: h.fd, Expand: h.expand, Chomp: h.chomp, Content: h.content })))).toEqual(
        (expected.children ?? []).map((c) => c.heredocs ?? []),
      );
    });
  });
});

describeConformance('real-world Dockerfiles', () => {
  const index = readFileSync(join(REALWORLD_DIR, 'INDEX.tsv'), 'utf8').trim().split('\n').slice(1);
  const files = index.map((l) => l.split('\t')[0] as string);
  test('has the 52 files', () => expect(files).toHaveLength(52));
  test.each(files)('%s parses with no error and no warning', (file) => {
    const ast = parse(readFileSync(join(REALWORLD_DIR, file), 'utf8'), { filename: file });
    expect(ast.warnings).toEqual([]);
    expect(ast.instructions.length).toBeGreaterThan(0);
  });
});
