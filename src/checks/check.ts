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
import { parseReference, platformString, type Platform } from '../image/index.js';
import {
  expandWordWithMatches, expandWords, parseMount, suggest,
  type CommandLine, type CopySource, type Dockerfile, type Instruction, type InvalidInstruction, type Range, type SyntaxNode,
} from '../parser/index.js';
import { configForComments, DEFAULT_CHECK_CONFIG, parseCheckOptions, ruleEnabled, type CheckConfig } from './config.js';
import { MESSAGES, RULES, type RuleName } from './rules.js';

export interface Finding {
  readonly rule: RuleName;
  readonly description: string;
  readonly url?: string;
  readonly message: string;
  /** The instruction (or FROM) it is about, 1-based lines and columns. */
  readonly range: Range;
  /** The stage's index, for findings inside a stage. */
  readonly stage?: number;
  /** 'error' when the configuration says `error=true`. */
  readonly level: 'warning' | 'error';
}

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

// BuildKit's system.DefaultPathEnv for linux: what a scratch stage's PATH is
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);
// variables BuildKit never puts in RUN's environment (convert.go nonEnvArgs)
const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

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
  const globals = metaArgs(ast.instructions.filter(isArg).filter((ins) => stages.every((s) => s.from.range.start.line > ins.range.start.line)), predefined, opts.buildArgs ?? {}, ast.escapeToken);
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

/** Findings as they are made, each once, in BuildKit's order for printing: by line, then message. */
class Findings {
  private readonly all = new Map<string, Finding>();

  /** `fromLines`: where each stage's FROM is, to give a finding the stage its line is in. */
  constructor(private readonly base: CheckConfig, private readonly fromLines: readonly number[] = []) {}

  add(config: CheckConfig, rule: RuleName, message: string, range: Range, stageGiven?: number): void {
    if (!ruleEnabled(config, rule)) return;
    let stage = stageGiven;
    for (let i = 0; stage === undefined && i < this.fromLines.length; i++) {
      const next = this.fromLines[i + 1];
      if (range.start.line >= (this.fromLines[i] as number) && (next === undefined || range.start.line < next)) stage = i;
    }
    const r = RULES[rule];
    const f: Finding = {
      rule, description: r.description, ...(r.url === undefined ? {} : { url: r.url }), message, range,
      ...(stage === undefined ? {} : { stage }), level: this.base.error ? 'error' : 'warning',
    };
    this.all.set(`${rule}\n${message}\n${range.start.line}:${range.start.col}`, f);
  }

  sorted(): Finding[] {
    return [...this.all.values()].sort((a, b) => a.range.start.line - b.range.start.line || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
  }
}

type From = Extract<Instruction, { kind: 'FROM' }>;
interface Stage {
  readonly from: From;
  readonly instructions: ReadonlyArray<Exclude<Instruction, From>>;
}

const isArg = (ins: Instruction | InvalidInstruction): ins is Extract<Instruction, { kind: 'ARG' }> => ins.kind === 'ARG';

/** The stages, each FROM with the valid instructions after it (invalid lines are the parser's errors). */
function splitStages(all: ReadonlyArray<Instruction | InvalidInstruction>): Stage[] {
  const stages: Array<{ from: From; instructions: Array<Exclude<Instruction, From>> }> = [];
  for (const ins of all) {
    if (ins.kind === 'FROM') stages.push({ from: ins, instructions: [] });
    else if (ins.kind !== 'INVALID') stages.at(-1)?.instructions.push(ins);
  }
  return stages;
}

// ---- while reading (instructions/parse.go): every instruction of the file ----

function readingChecks(out: Findings, base: CheckConfig, ins: Instruction | InvalidInstruction): void {
  if (ins.kind === 'INVALID') return;
  const config = configForComments(base, ins.comments);
  if (ins.kind === 'MAINTAINER') out.add(config, 'MaintainerDeprecated', MESSAGES.MaintainerDeprecated(), ins.range);
  if (ins.kind === 'FROM') {
    const args = ins.args.map((a) => a.value);
    const keyword = ins.keyword.value;
    if (args.length === 3 && args[2] !== (args[2] as string).toLowerCase()) out.add(config, 'StageNameCasing', MESSAGES.StageNameCasing(args[2] as string), ins.range);
    if (args.length >= 3) {
      const as = args[1] as string;
      const lower = keyword === keyword.toLowerCase();
      const upper = keyword === keyword.toUpperCase();
      // a keyword of mixed case is ConsistentInstructionCasing's to report
      if ((lower && as !== as.toLowerCase()) || (!lower && upper && as !== as.toUpperCase())) out.add(config, 'FromAsCasing', MESSAGES.FromAsCasing(keyword, as), ins.range);
    }
    if (ins.name !== undefined) definitionDescription(out, config, 'FROM', [ins.name], ins.comments, ins.range);
  }
  if (ins.kind === 'ARG') definitionDescription(out, config, 'ARG', ins.declarations.map((d) => d.name), ins.comments, ins.range);
}

/** InvalidDefinitionDescription (experimental): a comment above a stage or ARG not starting with its name. */
function definitionDescription(out: Findings, config: CheckConfig, instruction: 'ARG' | 'FROM', keys: readonly string[], comments: readonly string[], range: Range): void {
  const last = comments.at(-1);
  if (last === undefined || keys.length === 0) return;
  if (keys.includes(last.split(' ')[0] as string)) return;
  out.add(config, 'InvalidDefinitionDescription', MESSAGES.InvalidDefinitionDescription(instruction, keys.length > 1 ? '<arg_key>' : (keys[0] as string)), range);
}

// ---- over the whole file (validations.go) ----

function stageNameChecks(out: Findings, config: CheckConfig, stages: readonly Stage[]): void {
  const seen = new Set<string>();
  for (const { from } of stages) {
    if (from.name === undefined) continue;
    if (RESERVED_STAGE_NAMES.has(from.name)) out.add(config, 'ReservedStageName', MESSAGES.ReservedStageName(from.name), from.range);
    if (seen.has(from.name)) out.add(config, 'DuplicateStageName', MESSAGES.DuplicateStageName(from.name), from.range);
    seen.add(from.name);
  }
}

/** ConsistentInstructionCasing: each keyword in one case, the case most keywords of the stages have. */
function casingChecks(out: Findings, config: CheckConfig, stages: readonly Stage[]): void {
  const keywords = stages.flatMap((s) => [s.from, ...s.instructions]).map((ins) => ({ name: ins.keyword.value, range: ins.range }));
  let lower = 0;
  let upper = 0;
  for (const { name } of keywords) {
    if (name === name.toLowerCase()) lower++;
    else if (name === name.toUpperCase()) upper++;
  }
  const majorityLower = lower > upper;
  for (const { name, range } of keywords) {
    if (majorityLower && name.toLowerCase() !== name) out.add(config, 'ConsistentInstructionCasing', MESSAGES.ConsistentInstructionCasing(name, 'lowercase'), range);
    else if (!majorityLower && name.toUpperCase() !== name) out.add(config, 'ConsistentInstructionCasing', MESSAGES.ConsistentInstructionCasing(name, 'uppercase'), range);
  }
}

/**
 * The ARGs BuildKit defines before the first FROM (dockerfile2llb/platform.go defaultArgs):
 * TARGETPLATFORM and the rest, BUILDPLATFORM and the rest, and TARGETSTAGE (the target's name, else
 * the last stage's, else `default`); a build arg of the same name replaces the value.
 */
export function predefinedArgs(p: Platform, b: Platform, targetStage: string | undefined, buildArgs: Readonly<Record<string, string>> = {}): Map<string, string> {
  const defaults: Array<[string, string]> = [
    ['BUILDPLATFORM', platformString(b)], ['BUILDOS', b.os], ['BUILDOSVERSION', ''], ['BUILDARCH', b.architecture], ['BUILDVARIANT', b.variant ?? ''],
    ['TARGETPLATFORM', platformString(p)], ['TARGETOS', p.os], ['TARGETOSVERSION', ''], ['TARGETARCH', p.architecture], ['TARGETVARIANT', p.variant ?? ''],
    ['TARGETSTAGE', targetStage === undefined || targetStage === '' ? 'default' : targetStage],
  ];
  return new Map(defaults.map(([k, v]) => [k, Object.hasOwn(buildArgs, k) ? (buildArgs[k] as string) : v]));
}

/** The global ARGs: their values (build args over defaults, defaults expanded in order), and every declared name. */
interface MetaArgs {
  readonly values: Map<string, string>;
  readonly declared: ReadonlySet<string>;
}

function metaArgs(args: ReadonlyArray<Extract<Instruction, { kind: 'ARG' }>>, predefined: ReadonlyMap<string, string>, buildArgs: Readonly<Record<string, string>>, escape: '\\' | '`'): MetaArgs {
  const values = new Map(predefined);
  const declared = new Set<string>();
  for (const ins of args) {
    for (const d of ins.declarations) {
      declared.add(d.name);
      const given = Object.hasOwn(buildArgs, d.name) ? buildArgs[d.name] : undefined;
      if (given !== undefined) values.set(d.name, given);
      else if (d.default !== undefined) {
        try {
          values.set(d.name, expandWordWithMatches(d.default, values, { escape }).result);
        } catch {
          // the build reports a bad default
        }
      }
    }
  }
  return { values, declared };
}

/** InvalidDefaultArgInFrom: every FROM with the global ARGs' defaults alone must name a valid image. */
function defaultArgChecks(out: Findings, config: CheckConfig, ast: Dockerfile<Instruction | InvalidInstruction>, stages: readonly Stage[], predefined: ReadonlyMap<string, string>): void {
  const firstFrom = stages[0]?.from.range.start.line ?? Number.POSITIVE_INFINITY;
  const defaults = metaArgs(ast.instructions.filter(isArg).filter((a) => a.range.start.line < firstFrom), predefined, {}, ast.escapeToken);
  for (const { from } of stages) {
    let name: string;
    try {
      name = expandWordWithMatches(from.image.value, defaults.values, { escape: ast.escapeToken }).result;
    } catch {
      return;
    }
    try {
      parseReference(name);
    } catch {
      out.add(config, 'InvalidDefaultArgInFrom', MESSAGES.InvalidDefaultArgInFrom(from.image.value), from.range);
    }
  }
}

/** UndefinedArgInFrom, RedundantTargetPlatform, FromPlatformFlagConstDisallowed (convert.go buildDispatchStates). */
function fromChecks(out: Findings, config: CheckConfig, stage: Stage, index: number, globals: MetaArgs, escape: '\\' | '`'): void {
  const { from } = stage;
  const keys = [...new Set([...globals.declared, ...globals.values.keys()])];
  const undeclared = (unmatched: ReadonlySet<string>): void => {
    for (const arg of unmatched) {
      if (keys.includes(arg)) continue;
      out.add(config, 'UndefinedArgInFrom', MESSAGES.UndefinedArgInFrom(arg, suggest(arg, keys, true)), from.range, index);
    }
  };
  try {
    undeclared(expandWordWithMatches(from.image.value, globals.values, { escape }).unmatched);
  } catch {
    // the build reports the FROM line's expansion error
  }
  if (from.platform === undefined) return;
  let m: ReturnType<typeof expandWordWithMatches>;
  try {
    m = expandWordWithMatches(from.platform, globals.values, { escape });
  } catch {
    return;
  }
  undeclared(m.unmatched);
  if (m.matched.size === 1 && m.unmatched.size === 0 && m.matched.has('TARGETPLATFORM') && m.result === globals.values.get('TARGETPLATFORM')) {
    out.add(config, 'RedundantTargetPlatform', MESSAGES.RedundantTargetPlatform(from.platform), from.range, index);
  }
  if (m.matched.size === 0 && m.unmatched.size === 0) {
    const parsed = constPlatform(m.result);
    const name = from.name ?? '';
    if (parsed !== undefined && !name.includes(parsed.os) && !name.includes(parsed.architecture)) {
      out.add(config, 'FromPlatformFlagConstDisallowed', MESSAGES.FromPlatformFlagConstDisallowed(m.result), from.range, index);
    }
  }
}

/** containerd's platforms.Parse, enough to name the OS and architecture of a constant `--platform`. */
function constPlatform(spec: string): { os: string; architecture: string } | undefined {
  const parts = spec.split('/');
  if (parts.length < 1 || parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) return undefined;
  if (parts.length === 1) return { os: 'linux', architecture: (parts[0] as string).toLowerCase() };
  return { os: (parts[0] as string).toLowerCase(), architecture: (parts[1] as string).toLowerCase() };
}

// ---- as each stage is dispatched (convert.go dispatch*) ----

/** A stage's variables and settings as its instructions are dispatched. */
interface StageScope {
  readonly index: number;
  /** The state's environment: the base's ENV, then ENV and ARG values. */
  readonly env: Map<string, string>;
  /** False when the base is an image whose ENV is not known: a variable not found may still be set. */
  readonly envKnown: boolean;
  /** ARGs this stage declared so far (never undefined variables, with or without a value). */
  readonly declared: Set<string>;
  shell: readonly string[];
  workdirSet: boolean;
  cmd?: Range;
  entrypoint?: Range;
  healthcheck?: Range;
}

function startScope(stage: Stage, index: number, stages: readonly Stage[], done: readonly StageScope[], globals: MetaArgs, escape: '\\' | '`', opts: CheckOptions): StageScope {
  let image: string;
  try {
    image = expandWordWithMatches(stage.from.image.value, globals.values, { escape }).result;
  } catch {
    image = stage.from.image.value;
  }
  const base = stages.findIndex((s, i) => i < index && s.from.name !== undefined && s.from.name === image.toLowerCase());
  const parent = base < 0 ? undefined : done[base];
  if (parent !== undefined) {
    return { index, env: new Map(parent.env), envKnown: parent.envKnown, declared: new Set(), shell: parent.shell, workdirSet: parent.workdirSet };
  }
  if (image.toLowerCase() === 'scratch') return { index, env: new Map([['PATH', DEFAULT_PATH]]), envKnown: true, declared: new Set(), shell: [], workdirSet: false };
  const info = opts.baseImage?.(image, index);
  const env = new Map((info?.env ?? []).map((kv) => {
    const eq = kv.indexOf('=');
    return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
  }));
  return { index, env, envKnown: info !== undefined, declared: new Set(), shell: info?.shell ?? [], workdirSet: false };
}

const SECRET = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const NOT_SECRET = /(?:_|^)(?:public|file|version)(?:_|$)/i;

function secretKey(out: Findings, config: CheckConfig, instruction: 'ARG' | 'ENV', key: string, range: Range, stage: number): void {
  if (SECRET.test(key) && !NOT_SECRET.test(key)) out.add(config, 'SecretsUsedInArgOrEnv', MESSAGES.SecretsUsedInArgOrEnv(instruction, key), range, stage);
}

function dispatchChecks(
  out: Findings, config: CheckConfig, scope: StageScope, ins: Exclude<Instruction, From>, globals: MetaArgs, escape: '\\' | '`', opts: CheckOptions,
): void {
  const stage = scope.index;
  // a word expanded with the stage's variables; the ones not found are reported (reportUnmatchedVariables).
  // On a base whose ENV is not known, a variable not found may be the base's: nothing is reported,
  // and the value is undefined (not to be judged)
  const expanded = (word: string, raw = false): string | undefined => {
    let m: ReturnType<typeof expandWordWithMatches>;
    try {
      m = expandWordWithMatches(word, scope.env, raw ? { escape: '\\', skipProcessQuotes: true } : { escape });
    } catch {
      return undefined;
    }
    const missing = [...m.unmatched].filter((name) => !scope.declared.has(name) && !NON_ENV_ARGS.has(name));
    if (!scope.envKnown) return missing.length === 0 ? m.result : undefined;
    for (const name of missing) out.add(config, 'UndefinedVar', MESSAGES.UndefinedVar(name, suggest(name, [...scope.env.keys()], true)), ins.range, stage);
    return m.result;
  };
  const expand = (word: string, raw = false): void => void expanded(word, raw);
  switch (ins.kind) {
    case 'ARG':
      for (const d of ins.declarations) {
        secretKey(out, config, 'ARG', d.name, ins.range, stage);
        const given = opts.buildArgs !== undefined && Object.hasOwn(opts.buildArgs, d.name) ? opts.buildArgs[d.name] : undefined;
        const value = given ?? (d.default !== undefined ? expanded(d.default) ?? '' : globals.values.get(d.name));
        if (value !== undefined && !NON_ENV_ARGS.has(d.name)) scope.env.set(d.name, value);
        scope.declared.add(d.name);
      }
      return;
    case 'ENV': {
      const set = ins.pairs.map((p) => [expanded(p.key.value), expanded(p.value.value) ?? ''] as const);
      for (const p of ins.pairs) {
        if (p.legacy) out.add(config, 'LegacyKeyValueFormat', MESSAGES.LegacyKeyValueFormat(ins.keyword.value), ins.range, stage);
      }
      for (const [key, value] of set) {
        if (key === undefined) continue;
        secretKey(out, config, 'ENV', key, ins.range, stage);
        scope.env.set(key, value);
      }
      return;
    }
    case 'LABEL':
      for (const p of ins.pairs) {
        expand(p.key.value);
        expand(p.value.value);
        if (p.legacy) out.add(config, 'LegacyKeyValueFormat', MESSAGES.LegacyKeyValueFormat(ins.keyword.value), ins.range, stage);
      }
      return;
    case 'COPY':
    case 'ADD': {
      if (ins.chown !== undefined) expand(ins.chown);
      if (ins.chmod !== undefined) expand(ins.chmod);
      if (ins.kind === 'ADD' && ins.checksum !== undefined) expand(ins.checksum);
      const paths = ins.sources.filter((s): s is Extract<CopySource, { kind: 'path' }> => s.kind === 'path').map((s) => expanded(s.path.value));
      for (const s of ins.sources) if (s.kind === 'heredoc' && s.heredoc.expand) expand(s.heredoc.content, true);
      expand(ins.dest.value);
      if (ins.kind === 'ADD' || ins.from === undefined) {
        for (const p of paths) if (p !== undefined && !/^https?:\/\//.test(p)) copyIgnored(out, config, ins.kind === 'ADD' ? 'Add' : 'Copy', p, ins.range, stage, opts);
      }
      return;
    }
    case 'WORKDIR': {
      const path = expanded(ins.path.value);
      if (!scope.workdirSet && path !== undefined && !path.startsWith('/')) out.add(config, 'WorkdirRelativePath', MESSAGES.WorkdirRelativePath(path), ins.range, stage);
      scope.workdirSet = true;
      return;
    }
    case 'USER':
      expand(ins.user.value);
      return;
    case 'VOLUME':
      for (const v of ins.volumes) expand(v.value);
      return;
    case 'STOPSIGNAL':
      expand(ins.signal.value);
      return;
    case 'RUN':
      for (const m of ins.mounts) {
        try {
          parseMount(m.value, (w) => expanded(w) ?? w);
        } catch {
          // a bad mount is the build's error
        }
      }
      return;
    case 'SHELL':
      scope.shell = ins.shell.map((w) => w.value);
      return;
    case 'CMD':
    case 'ENTRYPOINT':
      usedOnce(out, config, scope, ins.kind === 'CMD' ? 'cmd' : 'entrypoint', ins, stage);
      if (isShellForm(ins.command) && scope.shell.length === 0) out.add(config, 'JSONArgsRecommended', MESSAGES.JSONArgsRecommended(ins.keyword.value), ins.range, stage);
      return;
    case 'HEALTHCHECK':
      usedOnce(out, config, scope, 'healthcheck', ins, stage);
      return;
    case 'EXPOSE':
      for (const word of ins.ports) {
        let ports: string[];
        try {
          if (!scope.envKnown && expandWordWithMatches(word.value, scope.env, { escape }).unmatched.size > 0) continue;
          ports = expandWords(word.value, scope.env, { escape });
        } catch {
          continue;
        }
        for (const port of ports) exposeChecks(out, config, port, ins.range, stage);
      }
      return;
    case 'MAINTAINER':
    case 'ONBUILD':
      return;
  }
}

const isShellForm = (c: CommandLine): boolean => c.form === 'shell';

/** MultipleInstructionsDisallowed: the earlier one of two in a stage is the one that is ignored, and reported. */
function usedOnce(out: Findings, config: CheckConfig, scope: StageScope, slot: 'cmd' | 'entrypoint' | 'healthcheck', ins: SyntaxNode, stage: number): void {
  const earlier = scope[slot];
  if (earlier !== undefined) out.add(config, 'MultipleInstructionsDisallowed', MESSAGES.MultipleInstructionsDisallowed(ins.keyword.value), earlier, stage);
  scope[slot] = ins.range;
}

/** ExposeProtoCasing and ExposeInvalidFormat on one port spec, `[ip:][hostPort:]port[/proto]` (convert_expose.go). */
function exposeChecks(out: Findings, config: CheckConfig, raw: string, range: Range, stage: number): void {
  const parts = raw.split(':');
  const n = parts.length;
  const [ip, hostPort, containerPort] = n === 1 ? ['', '', parts[0] as string] : n === 2 ? ['', parts[0] as string, parts[1] as string] : [parts.slice(0, n - 2).join(':'), parts[n - 2] as string, parts[n - 1] as string];
  const slash = containerPort.indexOf('/');
  const port = slash < 0 ? containerPort : containerPort.slice(0, slash);
  const proto = slash < 0 ? '' : containerPort.slice(slash + 1);
  if (port === '' || !['', 'tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) return; // an invalid port: the build's error
  if (proto !== proto.toLowerCase()) out.add(config, 'ExposeProtoCasing', MESSAGES.ExposeProtoCasing(raw), range, stage);
  if (ip !== '' || hostPort !== '') out.add(config, 'ExposeInvalidFormat', MESSAGES.ExposeInvalidFormat(raw), range, stage);
}

/**
 * CopyIgnoredFile (validations.go validateCopySourcePath): a source the .dockerignore excludes. Not
 * checked where the .dockerignore has exceptions (`!`): a folder excluded with a file inside let
 * back in cannot be judged from the patterns. The context's root is reported only under a pattern
 * that excludes everything (`*`, `**`, `**\/*`).
 */
function copyIgnored(out: Findings, config: CheckConfig, command: 'Copy' | 'Add', source: string, range: Range, stage: number, opts: CheckOptions): void {
  const ignore = opts.dockerignore;
  if (ignore === undefined || ignore.patterns.some((p) => p.trim().startsWith('!'))) return;
  const src = cleanPath(source);
  if ((src === '.' || src === '/') && !ignore.patterns.some((p) => ['*', '**', '**/*'].includes(p.trim()))) return;
  const rel = src === '/' ? '.' : src.replace(/^\/+/, '');
  if (ignore.excludes(rel)) out.add(config, 'CopyIgnoredFile', MESSAGES.CopyIgnoredFile(command, src), range, stage);
}

/** Go's filepath.Clean for slash paths. */
function cleanPath(p: string): string {
  const abs = p.startsWith('/');
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length > 0 && parts.at(-1) !== '..') parts.pop();
      else if (!abs) parts.push('..');
      continue;
    }
    parts.push(seg);
  }
  const joined = parts.join('/');
  return abs ? `/${joined}` : joined === '' ? '.' : joined;
}
