/**
 * check(): BuildKit's build checks over a parsed Dockerfile, in the order BuildKit runs them
 * (frontend/dockerfile/dockerfile2llb/convert.go, validations.go, instructions/parse.go):
 * - while instructions are read, for every stage: MaintainerDeprecated, StageNameCasing,
 *   FromAsCasing, InvalidDefinitionDescription (experimental); NoEmptyContinuation from the parser;
 * - over the whole file: ReservedStageName, DuplicateStageName, ConsistentInstructionCasing,
 *   InvalidDefaultArgInFrom (the global ARGs' defaults alone), and for each FROM
 *   UndefinedArgInFrom, RedundantTargetPlatform, FromPlatformFlagConstDisallowed;
 * - as each stage is dispatched, with its variables in scope: UndefinedVar, LegacyKeyValueFormat,
 *   SecretsUsedInArgOrEnv, WorkdirRelativePath, JSONArgsRecommended, MultipleInstructionsDisallowed,
 *   ExposeProtoCasing, ExposeInvalidFormat, CopyIgnoredFile. A build dispatches only the stages its
 *   target needs; `docker build --check` (and keel check) dispatches all of them.
 * InvalidBaseImagePlatform needs the pulled image: the builder reports it (baseImagePlatformFinding).
 */
import { KeelError } from '../errors.js';
import { platformString, type Platform } from '../image/index.js';
import type { Dockerfile, Instruction, InvalidInstruction, Range } from '../parser/index.js';
import { metaArgs, predefinedArgs } from './args.js';
import { configForComments, parseCheckOptions, type CheckConfig } from './config.js';
import { casingChecks, defaultArgChecks, fromChecks, readingChecks, stageNameChecks } from './file-checks.js';
import { Findings, type Finding } from './findings.js';
import { MESSAGES } from './rules.js';
import { dispatchChecks, startScope, type StageScope } from './scope-checks.js';
import { globalArgInstructions, splitStages } from './stages.js';

export type { Finding };

/** What a base image gives the stage built on it: its ENV (`K=V`), and its SHELL. */
export interface BaseImageInfo {
  readonly env: readonly string[];
  readonly shell?: readonly string[];
}

export interface CheckOptions {
  /** Build args (`--build-arg`): ARG values, and BUILDKIT_DOCKERFILE_CHECK, which replaces the `# check=` directive. */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** `skip=A,B;experimental=C;error=true` (BuildKit's BUILDKIT_DOCKERFILE_CHECK): replaces the `# check=` directive. */
  readonly checks?: string;
  /** The stages whose instructions are checked in scope (by index): a build's, the ones its target needs. @default every stage */
  readonly stages?: ReadonlySet<number>;
  /** The build's target stage, for TARGETSTAGE. @default the last stage */
  readonly target?: string;
  /** The target platform (TARGETPLATFORM...) and the build platform (BUILDPLATFORM...). @default linux/amd64 */
  readonly platform?: Platform;
  readonly buildPlatform?: Platform;
  /**
   * A base image's ENV and SHELL by the name FROM gives it (expanded). A stage on an image this does
   * not know (or without this option) is not checked for UndefinedVar: its variables are unknown.
   */
  readonly baseImage?: (name: string, stage: number) => BaseImageInfo | undefined;
  /** The context's .dockerignore, for CopyIgnoredFile: its patterns, and whether it excludes a path (or a folder above it). */
  readonly dockerignore?: { readonly patterns: readonly string[]; readonly excludes: (path: string) => boolean };
}

export interface CheckResult {
  readonly findings: readonly Finding[];
  /** With `error=true` and findings: BuildKit's `lint violation found for rules: A, B`. */
  readonly error?: string;
}

/** The configuration a Dockerfile and the options give: the `checks` option or build arg, else the `# check=` directive. */
export function checkConfig(ast: Pick<Dockerfile, 'directives'>, opts: Pick<CheckOptions, 'checks' | 'buildArgs'>): CheckConfig {
  const given = opts.checks ?? opts.buildArgs?.BUILDKIT_DOCKERFILE_CHECK;
  const text = given ?? ast.directives.find((d) => d.name === 'check')?.value ?? '';
  try {
    return parseCheckOptions(text);
  } catch (e) {
    const what = given === undefined ? 'check options' : opts.checks !== undefined ? 'the checks option' : 'BUILDKIT_DOCKERFILE_CHECK';
    throw new KeelError('E_CHECK', `failed to parse ${what}: ${(e as Error).message}`);
  }
}

/** Run the checks. The Dockerfile may come from `parse(text, { recover: true })`: invalid lines are left out. */
export function check(ast: Dockerfile<Instruction | InvalidInstruction>, opts: CheckOptions = {}): CheckResult {
  const config = checkConfig(ast, opts);
  const stages = splitStages(ast.instructions);
  const out = new Findings(config, stages.map((s) => s.from.range.start.line));
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const buildPlatform = opts.buildPlatform ?? platform;

  for (const w of ast.warnings) if (w.rule === 'NoEmptyContinuation') out.add(config, 'NoEmptyContinuation', MESSAGES.NoEmptyContinuation(), w.range);
  for (const ins of ast.instructions) readingChecks(out, config, ins);
  stageNameChecks(out, config, stages);
  casingChecks(out, config, stages);

  const predefined = predefinedArgs(platform, buildPlatform, opts.target ?? stages.at(-1)?.from.name, opts.buildArgs);
  defaultArgChecks(out, config, ast, stages, predefined);
  const globals = metaArgs(globalArgInstructions(ast.instructions, stages), predefined, opts.buildArgs ?? {}, ast.escapeToken);
  const states: StageScope[] = [];
  for (const [index, stage] of stages.entries()) {
    fromChecks(out, configForComments(config, stage.from.comments), stage, index, globals, ast.escapeToken);
    const scope = startScope(stage, index, stages, states, globals, ast.escapeToken, opts);
    states[index] = scope;
    if (opts.stages !== undefined && !opts.stages.has(index)) continue;
    for (const ins of stage.instructions) dispatchChecks(out, configForComments(config, ins.comments), scope, ins, globals, ast.escapeToken, opts);
  }
  const findings = out.sorted();
  if (!config.error || findings.length === 0) return { findings };
  return { findings, error: `lint violation found for rules: ${[...new Set(findings.map((f) => f.rule))].join(', ')}` };
}

/** A finding of InvalidBaseImagePlatform, for the builder once it has the image (validations.go validateBaseImagePlatform). */
export function baseImagePlatformFinding(config: CheckConfig, comments: readonly string[], image: string, expected: Platform, actual: Platform, range: Range, stage: number): Finding | undefined {
  if (expected.os === actual.os && expected.architecture === actual.architecture) return undefined;
  const out = new Findings(config);
  out.add(configForComments(config, comments), 'InvalidBaseImagePlatform', MESSAGES.InvalidBaseImagePlatform(image, platformString(expected), platformString(actual)), range, stage);
  return out.sorted()[0];
}

