/**
 * Build checks inside build(): findings as `warning` events and in the result, error=true failing
 * the build before any step, UndefinedVar with a base image's ENV, CopyIgnoredFile with the
 * context's .dockerignore, InvalidBaseImagePlatform with the image pulled, and only the stages the
 * target needs. FROM scratch and local archives: no daemon, no registry, no RUN.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, check, isKeelError, parse, type BuildEvent, type Finding } from '../../src';

let dir: string;
let base: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-build-checks-'));
  // a base image whose config has ENV APP_HOME (and PATH): made by keel, for linux/amd64
  const ctx = join(dir, 'base-ctx');
  await mkdir(ctx);
  base = join(dir, 'base.tar');
  await build({ context: ctx, dockerfile: { text: 'FROM scratch\nENV APP_HOME=/app\n' }, platform: 'linux/amd64', cacheDir: join(dir, 'cache'), output: { type: 'oci-archive', path: base } });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function context(name: string, files: Record<string, string>): Promise<string> {
  const c = join(dir, name);
  await mkdir(c);
  for (const [f, body] of Object.entries(files)) await writeFile(join(c, f), body);
  return c;
}

const brief = (fs: readonly Finding[]): Array<[string, number, string]> => fs.map((f) => [f.rule, f.range.start.line, f.message]);

test('findings are warning events and the result\'s, and the image is built', async () => {
  const c = await context('plain', { Dockerfile: 'FROM scratch as base\ncopy Dockerfile .\nCMD echo hi\n' });
  const events: BuildEvent[] = [];
  const result = await build({ context: c, cacheDir: join(dir, 'cache'), onProgress: (e) => events.push(e) });
  const want = [
    ['FromAsCasing', 1, "'as' and 'FROM' keywords' casing do not match"],
    ['ConsistentInstructionCasing', 2, "Command 'copy' should match the case of the command majority (uppercase)"],
    ['JSONArgsRecommended', 3, 'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals'],
  ];
  expect(brief(result.findings)).toEqual(want);
  expect(brief(events.flatMap((e) => (e.type === 'warning' ? [e.finding] : [])))).toEqual(want);
  expect(result.findings.every((f) => f.level === 'warning' && f.stage === 0)).toBe(true);
  expect(result.image.config.config.Cmd).toEqual(['/bin/sh', '-c', 'echo hi']);
});

test('error=true (directive, build arg or the checks option) fails the build before any step, at the first finding', async () => {
  const c = await context('strict', { Dockerfile: '# check=error=true\nFROM scratch as base\nCOPY Dockerfile .\n' });
  for (const extra of [{}, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'error=true' } }, { checks: 'error=true' }]) {
    const events: BuildEvent[] = [];
    let caught: unknown;
    await build({ context: c, cacheDir: join(dir, 'cache'), onProgress: (e) => events.push(e), output: { type: 'oci-archive', path: join(dir, 'never.tar') }, ...extra }).catch((e: unknown) => {
      caught = e;
    });
    expect(isKeelError(caught, 'E_CHECK')).toBe(true);
    expect((caught as Error).message).toBe('lint violation found for rules: FromAsCasing');
    expect((caught as { line?: number }).line).toBe(2);
    expect(events.some((e) => e.type === 'step-start')).toBe(false);
  }
  expect((await readdir(dir)).includes('never.tar')).toBe(false);
  // the option replaces the directive: skip the rule, and the build goes through
  const ok = await build({ context: c, cacheDir: join(dir, 'cache'), checks: 'skip=FromAsCasing;error=true' });
  expect(ok.findings).toEqual([]);
});

test('UndefinedVar knows the base image\'s ENV; InvalidBaseImagePlatform compares its platform with the stage\'s', async () => {
  const c = await context('on-base', { Dockerfile: 'FROM base\nWORKDIR $APP_HOME\nWORKDIR $APP_HOM/x\n' });
  const amd = await build({ context: c, cacheDir: join(dir, 'cache'), platform: 'linux/amd64', baseImages: { base } });
  expect(brief(amd.findings)).toEqual([['UndefinedVar', 3, "Usage of undefined variable '$APP_HOM' (did you mean $APP_HOME?)"]]);
  const arm = await build({ context: c, cacheDir: join(dir, 'cache'), platform: 'linux/arm64', baseImages: { base } });
  expect(brief(arm.findings)).toEqual([
    ['InvalidBaseImagePlatform', 1, 'Base image base was pulled with platform "linux/amd64", expected "linux/arm64" for current build'],
    ['UndefinedVar', 3, "Usage of undefined variable '$APP_HOM' (did you mean $APP_HOME?)"],
  ]);
  expect(arm.findings[0]?.url).toBeUndefined();
});

test('CopyIgnoredFile reads the context\'s .dockerignore; the warning is sent even when the COPY then fails', async () => {
  const c = await context('ignored', { Dockerfile: 'FROM scratch\nCOPY secret.txt /\n', '.dockerignore': 'secret.txt\n', 'secret.txt': 's' });
  const events: BuildEvent[] = [];
  await expect(build({ context: c, cacheDir: join(dir, 'cache'), onProgress: (e) => events.push(e) })).rejects.toThrow();
  expect(events.flatMap((e) => (e.type === 'warning' ? [e.finding.message] : []))).toEqual(['Attempting to Copy file "secret.txt" that is excluded by .dockerignore']);
});

test('only the stages the target needs are checked in scope', async () => {
  const c = await context('targets', { Dockerfile: 'FROM scratch AS first\nENV a b\n\nFROM scratch AS second\nENV c=d\n' });
  expect((await build({ context: c, cacheDir: join(dir, 'cache') })).findings).toEqual([]);
  const all = check(parse('FROM scratch AS first\nENV a b\n\nFROM scratch AS second\nENV c d\n'));
  expect(all.findings.map((f) => [f.range.start.line, f.stage])).toEqual([[2, 0], [5, 1]]);
  expect(brief((await build({ context: c, cacheDir: join(dir, 'cache'), target: 'first' })).findings)).toEqual([
    ['LegacyKeyValueFormat', 2, '"ENV key=value" should be used instead of legacy "ENV key value" format'],
  ]);
});

test('a stage named as its own base builds from the image (BuildKit\'s ReservedStageName case)', async () => {
  const c = await context('self', { Dockerfile: 'FROM scratch AS scratch\nCOPY Dockerfile /\nFROM scratch AS context\n' });
  const result = await build({ context: c, cacheDir: join(dir, 'cache'), target: 'scratch' });
  expect(result.layers).toHaveLength(1);
  expect(brief(result.findings).map(([r, l]) => [r, l])).toEqual([['ReservedStageName', 1], ['ReservedStageName', 3]]);
});
