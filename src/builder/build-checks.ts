/**
 * BuildKit's build checks in a build: before any step, the ones that need no base image (with
 * `error=true`, findings end the build there, as BuildKit fails before it solves); after the
 * stages, all of them for the stages each target platform built, with each base image's ENV,
 * SHELL and platform known (UndefinedVar, InvalidBaseImagePlatform). The findings go out as
 * `warning` events and into the result; with `error=true` they fail the build (E_CHECK) instead.
 */
import { baseImagePlatformFinding, check, checkConfig, type Finding } from '../checks/index.js';
import { KeelError } from '../errors.js';
import type { Platform } from '../image/index.js';
import type { Dockerfile, Range } from '../parser/index.js';
import { DockerfileError } from './errors.js';
import { PatternMatcher } from './ignore.js';
import type { BuildOptions } from './options.js';
import type { BuildEvent } from './progress.js';
import type { BuiltStage, Target } from './solve.js';

export interface BuildChecks {
  readonly ast: Dockerfile;
  readonly filename: string;
  readonly opts: Pick<BuildOptions, 'buildArgs' | 'checks' | 'target'>;
  readonly targets: readonly Target[];
  readonly buildPlatform: Platform;
  /** The context's .dockerignore patterns. */
  readonly ignorePatterns: () => Promise<readonly string[]>;
}

/**
 * Before the stages: findings with `error=true` fail the build now; others are sent at once (a
 * build that fails later has shown them, as BuildKit's does). Resolves with what was sent.
 */
export async function checksBeforeBuild(c: BuildChecks, emit: (e: BuildEvent) => void): Promise<ReadonlySet<string>> {
  const found = await run(c, undefined);
  failOnError(c, found);
  for (const finding of found.findings) emit({ type: 'warning', finding });
  return new Set(found.findings.map(key));
}

/** After the stages: every finding (the ones not sent before are sent now); with `error=true` the build fails instead. */
export async function checksAfterBuild(c: BuildChecks, solved: ReadonlyArray<ReadonlyMap<number, BuiltStage>>, sent: ReadonlySet<string>, emit: (e: BuildEvent) => void): Promise<readonly Finding[]> {
  const found = await run(c, solved);
  failOnError(c, found);
  for (const finding of found.findings) if (!sent.has(key(finding))) emit({ type: 'warning', finding });
  return found.findings;
}

async function run(c: BuildChecks, solved: ReadonlyArray<ReadonlyMap<number, BuiltStage>> | undefined): Promise<{ findings: Finding[]; error: boolean }> {
  const patterns = await c.ignorePatterns();
  const matcher = new PatternMatcher(patterns);
  const dockerignore = patterns.length === 0 ? undefined : { patterns, excludes: (p: string) => matcher.matches(p) };
  const args = { ...(c.opts.buildArgs === undefined ? {} : { buildArgs: c.opts.buildArgs }), ...(c.opts.checks === undefined ? {} : { checks: c.opts.checks }) };
  const config = checkConfig(c.ast, args);
  const all = new Map<string, Finding>();
  for (const [i, target] of c.targets.entries()) {
    const built = solved?.[i];
    const result = check(c.ast, {
      ...args,
      stages: new Set(target.required.map((s) => s.index)),
      ...(c.opts.target === undefined ? {} : { target: c.opts.target }),
      platform: target.platform,
      buildPlatform: c.buildPlatform,
      ...(dockerignore === undefined ? {} : { dockerignore }),
      ...(built === undefined ? {} : { baseImage: (_name: string, stage: number) => built.get(stage)?.image }),
    });
    for (const f of result.findings) all.set(key(f), f);
    // InvalidBaseImagePlatform: the image pulled for a stage is not of the stage's platform
    for (const s of target.required) {
      const b = built?.get(s.index);
      if (b?.image?.platform === undefined) continue;
      const f = baseImagePlatformFinding(config, s.from.comments, b.image.name, b.platform, b.image.platform, s.from.range, s.index);
      if (f === undefined) continue;
      all.set(key(f), f);
    }
  }
  const findings = [...all.values()].sort((a, b) => a.range.start.line - b.range.start.line || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
  return { findings, error: config.error };
}

const key = (f: Finding): string => `${f.rule}\n${f.message}\n${f.range.start.line}`;

/** With `error=true`, BuildKit's lint error: the rules found, at the first finding's place. */
function failOnError(c: BuildChecks, r: { findings: readonly Finding[]; error: boolean }): void {
  const first = r.findings[0];
  if (!r.error || first === undefined) return;
  const rules = [...new Set(r.findings.map((f) => f.rule))].join(', ');
  const at: Range = first.range;
  throw new DockerfileError(new KeelError('E_CHECK', `lint violation found for rules: ${rules}`), at, c.filename);
}
