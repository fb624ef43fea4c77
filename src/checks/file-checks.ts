/**
 * The checks BuildKit runs on every stage of the file, whatever the build's target: while the
 * instructions are read (instructions/parse.go: MaintainerDeprecated, StageNameCasing,
 * FromAsCasing, InvalidDefinitionDescription), over the whole file (validations.go:
 * ReservedStageName, DuplicateStageName, ConsistentInstructionCasing, InvalidDefaultArgInFrom),
 * and on each FROM line (convert.go buildDispatchStates: UndefinedArgInFrom,
 * RedundantTargetPlatform, FromPlatformFlagConstDisallowed).
 */
import { parseReference } from '../image/index.js';
import { expandWordWithMatches, suggest, type Dockerfile, type Instruction, type InvalidInstruction, type Range } from '../parser/index.js';
import { metaArgs, type MetaArgs } from './args.js';
import { configForComments, type CheckConfig } from './config.js';
import type { Findings } from './findings.js';
import { MESSAGES } from './rules.js';
import { globalArgInstructions, type Stage } from './stages.js';

const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);

// ---- while reading (instructions/parse.go): every instruction of the file ----

export function readingChecks(out: Findings, base: CheckConfig, ins: Instruction | InvalidInstruction): void {
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

export function stageNameChecks(out: Findings, config: CheckConfig, stages: readonly Stage[]): void {
  const seen = new Set<string>();
  for (const { from } of stages) {
    if (from.name === undefined) continue;
    if (RESERVED_STAGE_NAMES.has(from.name)) out.add(config, 'ReservedStageName', MESSAGES.ReservedStageName(from.name), from.range);
    if (seen.has(from.name)) out.add(config, 'DuplicateStageName', MESSAGES.DuplicateStageName(from.name), from.range);
    seen.add(from.name);
  }
}

/** ConsistentInstructionCasing: each keyword in one case, the case most keywords of the stages have. */
export function casingChecks(out: Findings, config: CheckConfig, stages: readonly Stage[]): void {
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

/** InvalidDefaultArgInFrom: every FROM with the global ARGs' defaults alone must name a valid image. */
export function defaultArgChecks(out: Findings, config: CheckConfig, ast: Dockerfile<Instruction | InvalidInstruction>, stages: readonly Stage[], predefined: ReadonlyMap<string, string>): void {
  const defaults = metaArgs(globalArgInstructions(ast.instructions, stages), predefined, {}, ast.escapeToken);
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
export function fromChecks(out: Findings, config: CheckConfig, stage: Stage, index: number, globals: MetaArgs, escape: '\\' | '`'): void {
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

