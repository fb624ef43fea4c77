/**
 * check() against BuildKit's own build-check tests (test/checks/buildkit-cases.ts): every finding's
 * rule, line, message, description and URL, for `docker build --check` (every stage) and for a
 * build (the stages its target needs), and the error a lint violation with error=true gives.
 */
import { check, parse, type Finding, type Instruction } from '../../src';
import { PatternMatcher, readIgnoreFile } from '../../src/builder/ignore';
import { BASE_ENV, CASES, RULE_DOCS, type BuildkitCase, type Expected } from './buildkit-cases';
import { planStages, requiredStages, targetStage } from '../../src/builder/plan';

function run(c: BuildkitCase, mode: 'all' | 'build'): { findings: readonly Finding[]; error?: string; parseErrors: string[] } {
  const ast = parse(c.dockerfile, { recover: true, filename: 'Dockerfile' });
  const patterns = c.dockerignore === undefined ? undefined : readIgnoreFile(c.dockerignore);
  const matcher = patterns === undefined ? undefined : new PatternMatcher(patterns);
  let stages: Set<number> | undefined;
  if (mode === 'build' && ast.errors.length === 0) {
    const plan = planStages({ ...ast, instructions: ast.instructions.filter((i): i is Instruction => i.kind !== 'INVALID') });
    stages = new Set(requiredStages(plan, targetStage(plan), new Map()).map((s) => s.index));
  }
  const result = check(ast, {
    ...(c.buildArgs === undefined ? {} : { buildArgs: c.buildArgs }),
    ...(stages === undefined ? {} : { stages }),
    baseImage: (name) => {
      const env = BASE_ENV[name.split(':')[0] as string];
      return env === undefined ? undefined : { env };
    },
    ...(patterns === undefined || matcher === undefined ? {} : { dockerignore: { patterns, excludes: (p: string) => matcher.matches(p) } }),
  });
  return { ...result, parseErrors: ast.errors.map((e) => e.message) };
}

const sortExpected = (xs: readonly Expected[]): Expected[] => [...xs].sort((a, b) => a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));

describe.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  test.each([['docker build --check (every stage)', 'all'], ['a build (the target\'s stages)', 'build']] as const)('%s', (_mode, mode) => {
    const { findings, error, parseErrors } = run(c, mode);
    const want = sortExpected(mode === 'all' ? c.all ?? c.warnings : c.warnings);
    expect(findings.map((f) => [f.rule, f.range.start.line, f.message])).toEqual(want);
    for (const f of findings) {
      const [description, url] = RULE_DOCS[f.rule] ?? [];
      expect([f.description, f.url]).toEqual([description, url]);
    }
    if (c.error?.startsWith('lint violation') === true) {
      expect(error).toBe(c.error);
      expect(findings.every((f) => f.level === 'error')).toBe(true);
    } else {
      expect(error).toBeUndefined();
      expect(findings.every((f) => f.level === 'warning')).toBe(true);
    }
    if (c.error !== undefined && !c.error.startsWith('lint violation')) expect(parseErrors.join('\n')).toContain(c.error);
  });
});
