/**
 * What a build is asked to make, read and planned before any step: the context folder (a stream
 * unpacked first), the Dockerfile parsed, its stages planned, and per platform the global ARGs
 * and the stages the target needs. What escapes RUN's sandbox is asked here too, before any step
 * runs, as BuildKit validates a build's entitlements before solving it.
 */
import { stat } from 'node:fs/promises';
import { KeelError, isKeelError } from '../errors.js';
import type { Platform } from '../image/index.js';
import { expandWord, parse, type Dockerfile, type Range } from '../parser/index.js';
import type { RunWorkspace } from '../runtime/index.js';
import type { UnpackLimits } from '../tree/index.js';
import { predefinedArgs } from '../checks/index.js';
import type { CheckedOptions } from './build-options.js';
import { readDockerfileText } from './dockerfile-file.js';
import { checkEntitlements } from './entitlements.js';
import { DockerfileError, fromSystemError } from './errors.js';
import type { BuildOptions } from './options.js';
import { planStages, requiredStages, targetStage, type Plan, type StagePlan } from './plan.js';
import { at, type BuildRun, type Target } from './solve.js';

export interface BuildInput {
  readonly contextDir: string;
  readonly ast: Dockerfile;
  /** The Dockerfile's name in errors and checks. */
  readonly filename: string;
  /** Its path, when it is a file (`<Dockerfile>.dockerignore`, step ids). */
  readonly dockerfilePath?: string;
  readonly escape: '\\' | '`';
  readonly plan: Plan;
  /** The stage built (`target`, else the last). */
  readonly target: StagePlan;
  /** One per platform built. */
  readonly targets: readonly Target[];
  /** Errors of an instruction as DockerfileErrors naming its file and line. */
  readonly locate: BuildRun['locate'];
  /** Whether a stage some target needs has a RUN (which needs layer folders and a runtime). */
  readonly runs: boolean;
}

export async function readBuildInput(opts: BuildOptions, checked: CheckedOptions, workspace: RunWorkspace, signal: AbortSignal): Promise<BuildInput> {
  const { cacheDir, limits, platforms, buildPlatform } = checked;
  const { contextDir, dockerfile } = await contextOf(opts, workspace, limits, signal);
  const df = await readDockerfileText(contextDir, dockerfile);
  const ast = parse(df.text, { filename: df.filename });
  const plan = planStages(ast, new Set(Object.keys(opts.namedContexts ?? {}).map((k) => k.toLowerCase())));
  const escape = ast.escapeToken;
  const locate = locator(df.filename, cacheDir);
  const target = targetStage(plan, opts.target);
  const targets: Target[] = platforms.map((p) => {
    const globals = globalArgs(plan, opts, p, buildPlatform, escape, locate);
    return { platform: p, globals, required: requiredStages(plan, target, globals) };
  });
  // ONBUILD triggers are checked at their step
  let runs = false;
  for (const stage of requiredByAny(targets)) {
    for (const ins of stage.instructions) {
      if (ins.kind !== 'RUN') continue;
      runs = true;
      at({ locate }, ins, () => checkEntitlements(ins, opts));
    }
  }
  return { contextDir, ast, filename: df.filename, ...(df.path === undefined ? {} : { dockerfilePath: df.path }), escape, plan, target, targets, locate, runs };
}

/** The stages some platform's target needs, each once. */
export function requiredByAny(targets: readonly Target[]): StagePlan[] {
  return [...new Set(targets.flatMap((t) => t.required))];
}

/** Errors of an instruction become DockerfileErrors naming its file and line (a full disk or an unwritable cache one of keel's codes first). */
function locator(filename: string, cacheDir: string): (e: unknown, node: { range: Range }) => Error {
  return (raw, node) => {
    const e = fromSystemError(raw, cacheDir);
    if (e instanceof DockerfileError) return e;
    if (isKeelError(e)) return new DockerfileError(e, node.range, filename);
    return e instanceof Error ? e : new Error(String(e));
  };
}

/** The context folder (a stream unpacked into the scratch folder first), and the Dockerfile it goes with. */
async function contextOf(opts: BuildOptions, ws: RunWorkspace, limits: UnpackLimits, signal: AbortSignal): Promise<{ contextDir: string; dockerfile: BuildOptions['dockerfile'] }> {
  if (typeof opts.context === 'string') {
    const s = await stat(opts.context).catch(() => undefined);
    if (s?.isDirectory() !== true) throw new KeelError('E_BUILD_INPUT', `the build context ${opts.context} ${s === undefined ? 'does not exist' : 'is not a folder'}`);
    return { contextDir: opts.context, dockerfile: opts.dockerfile };
  }
  const dir = ws.scratchPath('context');
  // loaded here: only a build from a stream needs it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { unpackContextStream } = require('./context-stream.js') as typeof import('./context-stream.js');
  const { dockerfileText } = await unpackContextStream(opts.context.stream, dir, limits, signal);
  if (dockerfileText !== undefined && opts.dockerfile !== undefined) {
    throw new KeelError('E_BUILD_INPUT', 'the context stream is a Dockerfile, and a Dockerfile is given too');
  }
  return { contextDir: dir, dockerfile: dockerfileText === undefined ? opts.dockerfile : { text: dockerfileText } };
}

/** The predefined ARGs (TARGETPLATFORM, TARGETSTAGE...), then the ARGs before the first FROM (build args override defaults). */
function globalArgs(plan: Plan, opts: BuildOptions, p: Platform, b: Platform, escape: '\\' | '`', locate: BuildRun['locate']): Map<string, string> {
  const globals = predefinedArgs(p, b, opts.target ?? plan.stages.at(-1)?.name, opts.buildArgs);
  for (const ins of plan.globalArgs) {
    for (const d of ins.declarations) {
      const given = opts.buildArgs?.[d.name];
      if (given !== undefined) globals.set(d.name, given);
      else if (d.default !== undefined) globals.set(d.name, at({ locate }, ins, () => expandWord(d.default as string, globals, { escape })));
    }
  }
  return globals;
}
