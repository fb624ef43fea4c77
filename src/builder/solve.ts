/**
 * The solver: the stages each target platform needs, built at once, one step after another within
 * a stage. Scheduling follows BuildKit's (solver/scheduler.go): every stage starts at once; each
 * step waits for the stages it reads (its FROM, `COPY --from`, `RUN --mount=from=`) and then for
 * one of `maxParallelism` slots, so independent stages run at the same time. The first failure
 * aborts the others (their containers killed, their mounts released) and is the error reported. A
 * stage's result depends only on its own steps, so the image is the same whatever order the stages
 * finished in.
 *
 * Several target platforms: each target builds the stages it needs, but a stage that is the same
 * work for two targets is built once and shared, as BuildKit's solver merges identical vertices of
 * the per-platform graphs. A stage is the same work when it starts from the same image or stage on
 * the same platform, reads the same stages, and its ARGs see the same values: a stage pinned by
 * `FROM --platform=$BUILDPLATFORM` that declares no TARGET* arg is built once
 * (dockerfile2llb/convert.go: the stage platform from `--platform`, a stage based on another
 * inherits its platform, everything else is built for the target).
 */
import type { BaseImageInfo } from '../checks/index.js';
import { KeelError, isKeelError } from '../errors.js';
import { canonicalJson, isPending, parsePlatform, platformString, type Digest, type Platform } from '../image/index.js';
import { expandWord, parse, type Instruction, type Range } from '../parser/index.js';
import { baseStage, instructionDeps, instructionRefs, stageRef, type Plan, type StagePlan } from './plan.js';
import { redactUrlCredentials } from './download.js';
import { progressOf } from './progress.js';
import type { Slots } from './slots.js';
import { cloneConfig, emptyStage, inherit, settled, withStep, type SettledStage, type StageState } from './stage.js';
import type { BuildServices, StepContext, StepResult } from './step-context.js';
import { runInstruction } from './steps/index.js';

/** One build's scheduling state, shared by its targets and stages. */
export interface BuildRun {
  readonly services: BuildServices;
  readonly plan: Plan;
  readonly locate: (e: unknown, at: { range: Range }) => Error;
  readonly slots: Slots;
  /** Stage ids are `<prefix>#<index>`: the Dockerfile's path names a stage across builds. */
  readonly stageIdPrefix: string;
  /** The platform keel runs on (BUILDPLATFORM; the OS and architecture a platform spec may leave out). */
  readonly hostPlatform: Platform;
  /** Steps are named with their stage's platform (`[linux/arm64 build 2/4]`): BuildKit does when several are built. */
  readonly namePlatforms: boolean;
  readonly counter: { steps: number };
  readonly steps: Array<{ step: number; name: string; cached: boolean; seconds: number }>;
  readonly cachedLayers: Set<Digest>;
}

/** A platform to build for, with the global ARGs it sees (TARGETPLATFORM...) and the stages its target needs. */
export interface Target {
  readonly platform: Platform;
  readonly globals: ReadonlyMap<string, string>;
  /** Dependencies first. */
  readonly required: readonly StagePlan[];
}

/** A finished stage and the platform it was built for. */
export interface BuiltStage {
  /** Every layer's blob stored: a stage is finished once they are. */
  readonly state: SettledStage;
  readonly platform: Platform;
  /** The image it started from, when it started from one: its name as FROM gave it, ENV, SHELL and platform (for the build checks). */
  readonly image?: BaseImageInfo & { readonly name: string; readonly platform?: Platform };
}

type WaitFor = (index: number) => Promise<BuiltStage>;

/**
 * Build every target's stages. Resolves with each target's finished stages by index (in the
 * targets' order), or rejects with the first failure once every stage has stopped.
 */
export async function solve(run: BuildRun, targets: readonly Target[], abortAll: () => void): Promise<Array<Map<number, BuiltStage>>> {
  const instances = new Map<string, Promise<BuiltStage>>();
  const all: Array<Promise<BuiltStage>> = [];
  let first: { error: unknown } | undefined;
  const failed = (error: unknown): void => {
    if (first !== undefined) return;
    first = { error };
    abortAll();
  };
  const byTarget = targets.map((target) => {
    const done = new Map<number, Promise<BuiltStage>>();
    const keys = new Map<number, string>();
    const waitFor: WaitFor = (index) => done.get(index) as Promise<BuiltStage>;
    for (const stage of target.required) {
      let building: Promise<BuiltStage>;
      try {
        const key = instanceKey(run, target, stage, keys);
        keys.set(stage.index, key);
        building = instances.get(key) ?? buildStage(run, target, stage, waitFor);
        instances.set(key, building);
      } catch (e) {
        building = Promise.reject(e);
      }
      building.catch(failed);
      done.set(stage.index, building);
      all.push(building);
    }
    return done;
  });
  await Promise.allSettled(all);
  if (first !== undefined) throw first.error;
  return Promise.all(byTarget.map(async (done) => new Map(await Promise.all([...done].map(async ([i, p]) => [i, await p] as const)))));
}

/**
 * What a stage is, as work: equal keys for two targets mean one build of it serves both. Every
 * stage it depends on comes earlier in `required`, so their keys are known.
 */
function instanceKey(run: BuildRun, target: Target, stage: StagePlan, keys: ReadonlyMap<number, string>): string {
  const { plan } = run;
  const base = at(run, stage.from, () => baseStage(plan, stage, target.globals));
  const refs = stage.instructions.flatMap((ins) => at(run, ins, () => instructionRefs(ins).map((r) => ({ r, dep: stageRef(plan, r, stage.index, true) }))));
  const declared = stage.instructions.flatMap((ins) => (ins.kind === 'ARG' ? ins.declarations.map((d) => d.name) : []));
  return canonicalJson({
    stage: stage.index,
    from: base === undefined ? fromImage(run, target, stage) : keys.get(base.index),
    // a stage's ARG without a value takes the global one (TARGETARCH among them)
    args: Object.fromEntries(declared.map((name) => [name, target.globals.get(name) ?? null])),
    reads: refs.map(({ r, dep }) => (dep === undefined ? `image ${r} for ${platformString(target.platform)}` : keys.get(dep.index))),
  });
}

/** A FROM of an image: the name and the platform, both expanded with the target's globals. */
function fromImage(run: BuildRun, target: Target, stage: StagePlan): string {
  const image = at(run, stage.from, () => expandWord(stage.from.image.value, target.globals, { escape: run.services.escape }));
  return `${image} for ${platformString(at(run, stage.from, () => stagePlatform(run, target, stage, undefined)))}`;
}

/** The platform a stage is built for: its base stage's, else its `FROM --platform` (expanded), else the target's. */
function stagePlatform(run: BuildRun, target: Target, stage: StagePlan, base: BuiltStage | undefined): Platform {
  if (base !== undefined) return base.platform;
  const flag = stage.from.platform;
  if (flag === undefined) return target.platform;
  const value = expandWord(flag, target.globals, { escape: run.services.escape });
  if (value === '') throw new KeelError('E_PLATFORM', `empty platform value from expression ${flag}`);
  return parsePlatform(value, run.hostPlatform);
}

/** A stage's FROM, its base image's ONBUILD triggers, then its instructions, one step each. */
async function buildStage(run: BuildRun, target: Target, stage: StagePlan, waitFor: WaitFor): Promise<BuiltStage> {
  const { services, plan } = run;
  const image = at(run, stage.from, () => expandWord(stage.from.image.value, target.globals, { escape: services.escape }));
  const base = at(run, stage.from, () => baseStage(plan, stage, target.globals));
  const built = base === undefined ? undefined : await waitFor(base.index);
  const platform = at(run, stage.from, () => stagePlatform(run, target, stage, built));
  const samePlatform = platformString(platform) === platformString(run.hostPlatform);
  // named across builds by place; a stage for another platform than the host's has its own recipes
  const id = `${run.stageIdPrefix}#${stage.index}${samePlatform ? '' : `@${platformString(platform)}`}`;
  const total = stage.instructions.length + 1;
  const label = (i: number): string =>
    `[${run.namePlatforms ? `${platformString(platform)} ` : ''}${stage.name === undefined ? '' : `${stage.name} `}${i}/${total}]`;
  const steps: StageSteps = { run, target, stage, platform, waitFor };

  let state = emptyStage(id);
  let from: BuiltStage['image'];
  await step(run, stage, `${label(1)} FROM ${image}`, stage.from, async (n) => {
    if (image === '') throw new KeelError('E_BUILD_INPUT', `base name (${stage.from.image.value}) should not be blank`);
    if (built !== undefined) state = inherit(built.state, id);
    else if (image.toLowerCase() !== 'scratch') {
      const named = services.sources.namedContext(image);
      if (named !== undefined && 'path' in named) {
        throw new KeelError('E_UNSUPPORTED', `FROM ${image}: a folder as a base (--build-context ${image}=${named.path}) is not supported yet; COPY --from=${image} reads it`);
      }
      const progress = progressOf(services.emit, n);
      const loaded = await services.sources.baseImage(image, platform, (t) => progress(t.digest, t.current, t.total, t.done));
      from = {
        name: image, env: loaded.cfg.env.map(([k, v]) => `${k}=${v}`),
        ...(loaded.cfg.shell === undefined ? {} : { shell: loaded.cfg.shell }), ...(loaded.imagePlatform === undefined ? {} : { platform: loaded.imagePlatform }),
      };
      state = inherit(loaded, id);
    }
    return { cached: false };
  });

  // ONBUILD triggers of a base image run first, then are not inherited (BuildKit, convert.go)
  const triggers = state.cfg.onBuild;
  if (triggers.length > 0) state = { ...state, cfg: { ...cloneConfig(state.cfg), onBuild: [] } };
  try {
    for (const [i, expression] of triggers.entries()) {
      const trigger = parse(`FROM scratch\n${expression}`, { filename: `${image} ONBUILD` }).instructions.slice(1);
      for (const ins of trigger) {
        state = await instructionStep(steps, state, ins, `${label(1)} ONBUILD ${i + 1}/${triggers.length}: ${redactUrlCredentials(ins.original.trim())}`, stage.from);
      }
    }
    for (const [i, ins] of stage.instructions.entries()) {
      state = await instructionStep(steps, state, ins, `${label(i + 2)} ${redactUrlCredentials(ins.original.trim())}`, ins);
    }
  } catch (e) {
    // blobs still being made write into the cache: the build returns only once they have stopped
    await settled(state).catch(() => undefined);
    throw e;
  }
  return { state: await settled(state), platform, ...(from === undefined ? {} : { image: from }) };
}

/** What every step of one stage shares. */
interface StageSteps {
  readonly run: BuildRun;
  readonly target: Target;
  readonly stage: StagePlan;
  readonly platform: Platform;
  readonly waitFor: WaitFor;
}

/** One instruction: wait for the stages it reads, then run it as a step; the stage's next state. */
async function instructionStep(s: StageSteps, state: StageState, ins: Instruction, name: string, where: { range: Range }): Promise<StageState> {
  const { run, target, stage, waitFor } = s;
  const deps = at(run, where, () => instructionDeps(run.plan, stage, ins));
  await Promise.all(deps.map((d) => waitFor(d.index)));
  const result = await step(run, stage, name, where, (n) => {
    const ctx: StepContext = {
      ...run.services,
      stepCache: run.services.stepCache.forStage(stage.index),
      stage: state,
      stagePlan: stage,
      platform: s.platform,
      stageOrImage: async (ref, allowIndex) => {
        const dep = stageRef(run.plan, ref, stage.index, allowIndex);
        return dep === undefined ? run.services.sources.baseImage(ref, target.platform) : (await waitFor(dep.index)).state;
      },
      step: n,
      stepId: `${state.id}:${ins.range.start.line}`,
      word: (w) => expandWord(w, state.vars, { escape: run.services.escape }),
    };
    return runInstruction(ins, ctx, target.globals);
  });
  const layer = result.layer;
  if (result.cached && layer !== undefined && !isPending(layer)) run.cachedLayers.add(layer.digest);
  // a step that missed and moved the chain key is what the misses after it are explained by
  const next = (r: StepResult): StageState => {
    const after = withStep(state, r);
    return r.cached || after.key === state.key ? after : { ...after, lastMiss: name };
  };
  if (layer === undefined || !isPending(layer)) return next(result);
  // a blob made beside the next steps: its failure is this instruction's, reported at the stage's end
  const stored = layer.stored.catch((e: unknown) => {
    throw run.locate(e, where);
  });
  stored.catch(() => undefined);
  return next({ ...result, layer: { diffId: layer.diffId, stored } });
}

/** Run one step in a slot, with progress events; errors get the instruction's location. */
async function step(run: BuildRun, stage: StagePlan, name: string, where: { range: Range }, fn: (step: number) => Promise<StepResult>): Promise<StepResult> {
  const { signal, emit } = run.services;
  return run.slots.run(async () => {
    if (signal.aborted) throw new KeelError('E_ABORTED', 'build aborted');
    const n = ++run.counter.steps;
    const t0 = process.hrtime.bigint();
    emit({ type: 'step-start', step: n, stage: stage.index, name });
    let result: StepResult;
    try {
      result = await fn(n);
    } catch (e) {
      // whatever a step was doing when the build was aborted (an extraction, a pipeline) reports the abort
      const aborted = signal.aborted && !isKeelError(e, 'E_ABORTED');
      const err = run.locate(aborted ? new KeelError('E_ABORTED', 'build aborted', { cause: e }) : e, where);
      emit({ type: 'step-error', step: n, stage: stage.index, name, message: err.message });
      throw err;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    run.steps.push({ step: n, name, cached: result.cached, seconds });
    emit({ type: 'step-done', step: n, stage: stage.index, name, seconds, cached: result.cached, ...(result.reason === undefined ? {} : { reason: result.reason }) });
    return result;
  });
}

/** `fn`, its error located at `node` (the file and line of the instruction). */
export function at<T>(run: Pick<BuildRun, 'locate'>, node: { range: Range }, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw run.locate(e, node);
  }
}
