/**
 * From a parsed Dockerfile to build stages: the global ARGs before the first FROM, each stage's
 * instructions, the target, which stages the target needs (through `FROM <stage>`, `COPY --from`
 * and `RUN --mount=from=`; BuildKit builds no other stage: dockerfile2llb's allReachableStages),
 * and what each step waits for (the scheduler runs a stage's steps as soon as those are built).
 */
import type { ArgInstruction, Dockerfile, FromInstruction, Instruction } from '../parser/index.js';
import { expandWord, parseMount, type Env } from '../parser/index.js';
import { KeelError } from '../errors.js';

export interface StagePlan {
  readonly index: number;
  /** The `AS` name, lower-cased. */
  readonly name?: string;
  readonly from: FromInstruction;
  readonly instructions: readonly Instruction[];
}

export interface Plan {
  readonly globalArgs: readonly ArgInstruction[];
  readonly stages: readonly StagePlan[];
}

/**
 * The Dockerfile's stages. `overridden`: names a named context replaces (`--build-context`): a
 * stage of that name is not found by it ("When Dockerfile defines a stage with the same name it's
 * overwritten", docker's docs), so `FROM name` and `COPY --from=name` reach the context.
 */
export function planStages(ast: Dockerfile, overridden: ReadonlySet<string> = new Set()): Plan {
  const globalArgs: ArgInstruction[] = [];
  const stages: Array<{ index: number; name?: string; from: FromInstruction; instructions: Instruction[] }> = [];
  for (const ins of ast.instructions) {
    if (ins.kind === 'FROM') {
      const name = ins.name === undefined || overridden.has(ins.name.toLowerCase()) ? undefined : ins.name;
      stages.push({ index: stages.length, ...(name === undefined ? {} : { name }), from: ins, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.kind === 'ARG') globalArgs.push(ins); // the parser refuses anything else before FROM
    } else {
      (stages[stages.length - 1] as { instructions: Instruction[] }).instructions.push(ins);
    }
  }
  if (stages.length === 0) throw new KeelError('E_BUILD_INPUT', 'the Dockerfile has no FROM: nothing to build');
  return { globalArgs, stages };
}

/** The stage to build: by name (case-insensitive), or the last one. */
export function targetStage(plan: Plan, target?: string): StagePlan {
  if (target === undefined || target === '') return plan.stages[plan.stages.length - 1] as StagePlan;
  const found = plan.stages.find((s) => s.name === target.toLowerCase());
  if (found === undefined) throw new KeelError('E_STAGE', `target stage ${JSON.stringify(target)} could not be found`);
  return found;
}

/** An earlier stage named by `FROM <name>` or `COPY --from=<name|index>`, if the reference is one. */
export function stageRef(plan: Plan, ref: string, before: number, allowIndex: boolean): StagePlan | undefined {
  const byName = plan.stages.find((s) => s.name !== undefined && s.name === ref.toLowerCase());
  if (byName !== undefined) {
    if (byName.index >= before) throw new KeelError('E_STAGE', `stage ${JSON.stringify(ref)} is used before it is defined`);
    return byName;
  }
  if (allowIndex && /^[0-9]+$/.test(ref)) {
    const i = Number(ref);
    if (i >= before) throw new KeelError('E_STAGE', `stage index ${i} refers to this or a later stage`);
    return plan.stages[i];
  }
  return undefined;
}

/**
 * The stage a FROM names, if it names an earlier one (an image otherwise). A stage named as its own
 * base (`FROM alpine AS alpine`, `FROM scratch AS scratch`) starts from the image: BuildKit looks a
 * base up among the stages before it (dockerfile2llb dispatchStates.addState). A later stage's name
 * is refused (E_STAGE), where BuildKit would pull an image of that name.
 */
export function baseStage(plan: Plan, stage: StagePlan, globals: Env): StagePlan | undefined {
  const name = expandWord(stage.from.image.value, globals);
  if (stage.name !== undefined && stage.name === name.toLowerCase()) return undefined;
  return stageRef(plan, name, stage.index, false);
}

/** What an instruction reads `--from`, as written: `COPY --from=<ref>`, `RUN --mount=...,from=<ref>`. */
export function instructionRefs(ins: Instruction): string[] {
  const refs: string[] = [];
  if (ins.kind === 'COPY' && ins.from !== undefined) refs.push(ins.from);
  if (ins.kind === 'RUN') {
    for (const m of ins.mounts) {
      const from = mountFrom(m.value);
      if (from !== undefined) refs.push(from);
    }
  }
  return refs;
}

/** The earlier stages an instruction reads: `COPY --from=<stage>`, `RUN --mount=...,from=<stage>`. */
export function instructionDeps(plan: Plan, stage: StagePlan, ins: Instruction): StagePlan[] {
  return instructionRefs(ins).map((r) => stageRef(plan, r, stage.index, true)).filter((d): d is StagePlan => d !== undefined);
}

/** A mount's `from=` as written (the step expands and checks the whole flag itself). */
function mountFrom(value: string): string | undefined {
  try {
    return parseMount(value, (w) => w).from;
  } catch {
    return undefined; // a bad mount flag fails in its step, with its message
  }
}

/** The stages the target needs, in build order (dependencies first). */
export function requiredStages(plan: Plan, target: StagePlan, globals: Env): StagePlan[] {
  const order: StagePlan[] = [];
  const seen = new Set<number>();
  const visit = (stage: StagePlan): void => {
    if (seen.has(stage.index)) return;
    seen.add(stage.index);
    const base = baseStage(plan, stage, globals);
    if (base !== undefined) visit(base);
    for (const ins of stage.instructions) for (const dep of instructionDeps(plan, stage, ins)) visit(dep);
    order.push(stage);
  };
  visit(target);
  return order;
}

/**
 * Build args given that no ARG of the built stages (or before the first FROM) declares, less the
 * ones every build takes without an ARG (the proxy variables, BuildKit's own settings), as the
 * legacy builder's "[Warning] One or more build-args [...] were not consumed" counts them.
 */
export function unusedBuildArgs(plan: Plan, built: readonly StagePlan[], given: Readonly<Record<string, string>>): string[] {
  const declared = new Set<string>();
  for (const ins of [...plan.globalArgs, ...built.flatMap((s) => s.instructions)]) {
    if (ins.kind === 'ARG') for (const d of ins.declarations) declared.add(d.name);
  }
  return Object.keys(given).filter((k) => !declared.has(k) && !ALWAYS_CONSUMED.has(k.toLowerCase()) && !k.startsWith('BUILDKIT_')).sort();
}

/** Args a build takes without an ARG (moby's builder/dockerfile buildargs.go builtinAllowedBuildArgs, and SOURCE_DATE_EPOCH). */
const ALWAYS_CONSUMED: ReadonlySet<string> = new Set(['http_proxy', 'https_proxy', 'ftp_proxy', 'no_proxy', 'all_proxy', 'source_date_epoch']);
