/**
 * build(): a Dockerfile and a build context to an image, handed to an output. This module plans
 * and schedules; steps/ does the work of each instruction, output/ writes the image.
 *
 * Scheduling follows BuildKit's solver (solver/scheduler.go): every stage the target needs starts
 * at once; each step waits for the stages it reads (its FROM, `COPY --from`, `RUN --mount=from=`)
 * and then for one of `maxParallelism` slots, so independent stages run at the same time. The
 * first failure aborts the others (their containers killed, their mounts released) and is the
 * error reported. A stage's result depends only on its own steps, so the image is the same
 * whatever order the stages finished in.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { BlobStore, collectionDue, defaultCacheDir, DiffIdRecord, FileHasher, markUsed, openCacheDir, StepCache, takeLease, type CacheEntry, type Lease, type Used } from '../cache/index.js';
import { isKeelError, KeelError } from '../errors.js';
import { assembleImage, hostPlatform, parsePlatform, parseReference, parseTag, platformString, type Digest, type Platform } from '../image/index.js';
import { expandWord, parse, type Dockerfile, type Instruction, type Range } from '../parser/index.js';
import { proxiedFetch, proxyFromEnv, type Fetch, type RegistryOptions } from '../registry/index.js';
import { ociRuntime, RunWorkspace } from '../runtime/index.js';
import { DEFAULT_UNPACK_LIMITS, type UnpackLimits } from '../tree/index.js';
import { DockerfileError, fromSystemError } from './errors.js';
import { chooseRuntime, readHost, type Host } from './host.js';
import type { BuildOptions, BuildResult } from './options.js';
import { baseStage, instructionDeps, planStages, requiredStages, targetStage, unusedBuildArgs, type Plan, type StagePlan } from './plan.js';
import { layerEntries } from './layers.js';
import { checkOutputs, writeOutputs } from './outputs.js';
import { progressOf } from './progress.js';
import { Slots } from './slots.js';
import { Sources } from './sources.js';
import { cloneConfig, emptyStage, imageConfig, inherit, withStep, type StageState } from './stage.js';
import type { BuildServices, StepContext, StepResult } from './step-context.js';
import { runInstruction } from './steps/index.js';
import { timestamps } from './timestamps.js';
import { baseUnpacker } from './unpack-base.js';
import { VerifiedLayers } from './verified-layers.js';

export function build(options: BuildOptions): Promise<BuildResult> {
  return buildOn(readHost(), options);
}

/** build() with the process facts given (tests give their own). */
export async function buildOn(host: Host, opts: BuildOptions): Promise<BuildResult> {
  const platform = opts.platform === undefined ? hostPlatform(host.arch) : parsePlatform(opts.platform, hostPlatform(host.arch));
  const cacheDir = resolvePath(opts.cacheDir ?? defaultCacheDir(host.env)); // absolute: mount(8) runs in the layers folder
  const sde = opts.sourceDateEpoch ?? (opts.buildArgs?.SOURCE_DATE_EPOCH === undefined ? undefined : Number(opts.buildArgs.SOURCE_DATE_EPOCH));
  const times = timestamps(opts.timestamps ?? 'normalize', sde);
  for (const t of opts.tags ?? []) parseTag(t); // refuse a bad tag before doing any work
  const outputs = listOf(opts.output);
  const cacheTo = listOf(opts.cacheTo);
  const cacheFrom = listOf(opts.cacheFrom);
  for (const c of [...cacheTo, ...cacheFrom]) if (c.type === 'registry') parseReference(c.ref); // a bad ref before any work
  await checkOutputs(outputs, opts.tags ?? []);
  const maxParallelism = opts.maxParallelism ?? Number.POSITIVE_INFINITY;
  if (opts.maxParallelism !== undefined && (!Number.isInteger(maxParallelism) || maxParallelism < 1)) {
    throw new KeelError('E_BUILD_INPUT', `maxParallelism must be a whole number of at least 1, not ${maxParallelism}`);
  }

  checkCompressionLevel(opts.compression ?? 'gzip', opts.compressionLevel);
  const cacheMaxSize = cacheBudgetAsked(opts, host);
  const startedAt = Date.now();
  const blobs = new BlobStore(cacheDir, host.pid);
  const hasher = new FileHasher(cacheDir);
  if (opts.maxUnpackBytes !== undefined && (!Number.isSafeInteger(opts.maxUnpackBytes) || opts.maxUnpackBytes < 1)) {
    throw new KeelError('E_BUILD_INPUT', `maxUnpackBytes must be a whole number of bytes, not ${opts.maxUnpackBytes}`);
  }
  const limits: UnpackLimits = { maxBytes: opts.maxUnpackBytes ?? DEFAULT_UNPACK_LIMITS.maxBytes };
  const verified = new VerifiedLayers(new DiffIdRecord(cacheDir), blobs, limits);
  const runtimeName = chooseRuntime(opts.runtime, host.env);
  const workspace = new RunWorkspace({
    cacheDir,
    runtime: () => ociRuntime(runtimeName, host.sandbox.userNamespace ? { stateRoot: join(cacheDir, 'runc') } : {}),
    sandbox: host.sandbox,
    privileged: host.uid === 0,
    rootfs: host.env.KEEL_RUN_ROOTFS === 'copy' ? 'copy' : 'overlay',
    blobs,
    limits,
    verify: (layer, signal) => verified.verify(layer, signal),
    learned: (layer, diffId) => verified.learned(layer, diffId),
    pid: host.pid,
  });
  // one signal for every step: the caller's abort, or the first failure
  const abort = new AbortController();
  const onAbort = (): void => abort.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) abort.abort();
  let lease: Lease | undefined;
  let used: Used | undefined;
  try {
    await openCacheDir(cacheDir, host.uid);
    // held until the end: no collection removes anything while this build runs (cache/leases.ts)
    lease = await takeLease(cacheDir, host.pid, abort.signal);
    if (host.uid === 0) await workspace.reapStale(); // a killed build's containers and mounts go before anything else
    const { contextDir, dockerfile } = await contextOf(opts, workspace, limits, abort.signal);
    const df = await readDockerfile(contextDir, dockerfile);
    const plan = planStages(df.ast, new Set(Object.keys(opts.namedContexts ?? {}).map((k) => k.toLowerCase())));
    const escape = df.ast.escapeToken;
    const locate = locator(df.filename, cacheDir);
    const globals = globalArgs(plan, opts, platform, hostPlatform(host.arch), escape, locate);
    const target = targetStage(plan, opts.target);
    const httpFetch = proxiedFetch(opts.proxy ?? proxyFromEnv(host.env));
    const registry = registryOptions(opts, abort.signal, httpFetch);
    // a base's layer is unpacked while it downloads for the RUNs to come, unless a shared cache is
    // imported: then the RUNs are likely hits, which need no layer folder
    const unpacker = cacheFrom.length > 0 ? undefined : baseUnpacker(workspace, plan, abort.signal);
    const sources = new Sources({
      contextDir,
      ...(df.path === undefined ? {} : { dockerfilePath: df.path }),
      blobs, cacheDir, platform, baseImages: opts.baseImages ?? {}, registry, ...(opts.pull === undefined ? {} : { pull: opts.pull }),
      verify: (layer) => verified.verify(layer, abort.signal),
      limits,
      ...(unpacker === undefined ? {} : { unpackWhilePulling: unpacker }),
      ...(opts.namedContexts === undefined ? {} : { namedContexts: opts.namedContexts }),
    }, plan);
    const services: BuildServices = {
      opts, platform, cacheDir, blobs, stepCache: new StepCache(cacheDir, blobs), hasher, verified, times, sources, workspace,
      compression: opts.compression ?? 'gzip', ...(opts.compressionLevel === undefined ? {} : { compressionLevel: opts.compressionLevel }), limits, noCache: opts.noCache === true, escape, signal: abort.signal, fetch: httpFetch,
      emit: (e) => opts.onProgress?.(e),
    };
    // other machines' steps (cacheFrom): their lists now, their layers when read
    const imported = opts.noCache === true || cacheFrom.length === 0 ? [] : await remoteCache().importCaches(cacheFrom, { blobs, stepCache: services.stepCache, verified, registry });
    const run: StageRun = {
      services, plan, globals, locate, slots: new Slots(maxParallelism), stageIdPrefix: df.path ?? '<text>',
      counter: { steps: 0 }, steps: [], cachedLayers: new Set(),
    };
    const required = requiredStages(plan, target, globals);
    const states = await runStages(run, required, () => abort.abort());
    await hasher.save();
    // what this build used is the most recently used, for the budget's collection
    const layersUsed = [...states.values()].flatMap((st) => st.layers);
    used = {
      blobs: [...layersUsed.map((l) => l.digest), ...[...states.values()].flatMap((st) => (st.base === undefined ? [] : [st.base.digest]))],
      layers: layersUsed.map((l) => l.diffId),
    };

    const final = states.get(target.index) as StageState;
    // which base the image was built on (OCI's standard annotations)
    const annotations = final.base === undefined ? undefined : {
      'org.opencontainers.image.base.name': final.base.name,
      'org.opencontainers.image.base.digest': final.base.digest,
    };
    // the steps a cache export holds: min, the final image's (its stage and the stages it is built FROM); max, every stage's
    const chain = new Set<number>();
    for (let s: StagePlan | undefined = target; s !== undefined; s = baseStage(plan, s, globals)) chain.add(s.index);
    const entriesFor = (mode: 'min' | 'max'): CacheEntry[] => [...services.stepCache.used]
      .filter(([, u]) => mode === 'max' || (u.stage !== undefined && chain.has(u.stage))).map(([key, u]) => ({ key, record: u.record }));
    const plainConfig = imageConfig(final, platform, times.created());
    // an inline cache (cacheTo type inline) rides in the image's config, as BuildKit's does
    const config = cacheTo.some((c) => c.type === 'inline')
      ? ({ ...plainConfig, [remoteCache().INLINE_CACHE_KEY]: remoteCache().inlineCache(entriesFor('min'), final.layers) } as typeof plainConfig)
      : plainConfig;
    const labels = { ...config.config.Labels, ...opts.labels };
    const image = assembleImage(
      Object.keys(labels).length === 0 ? config : { ...config, config: { ...config.config, Labels: labels } },
      final.layers, { ...annotations, ...opts.annotations },
    );
    const tags = opts.tags ?? [];
    const written = await writeOutputs(image, outputs, {
      tags, blobs, signal: abort.signal,
      registry: { ...registry, ...(final.base === undefined ? {} : { baseName: final.base.name }) },
      rootfs: async () => {
        const tree = await sources.readTree(final);
        return layerEntries(tree.paths(), tree);
      },
    }, { next: () => ++run.counter.steps, emit: services.emit }).catch((e: unknown) => {
      // an abort while a stream is being written is the build's abort, not a stream's error
      throw abort.signal.aborted && !isKeelError(e) ? new KeelError('E_ABORTED', 'build aborted', { cause: e }) : e;
    });
    const exported = cacheTo.length === 0 ? [] : await remoteCache().exportCaches(cacheTo, entriesFor, {
      blobs, registry,
      mountFrom: [...(final.base === undefined ? [] : [final.base.name]), ...outputs.flatMap((o) => (o.type === 'registry' ? o.names ?? tags : []))].map((n) => parseReference(n)),
    });
    return {
      manifestDigest: image.manifestBlob.digest,
      configDigest: image.configBlob.digest,
      layers: image.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, cached: run.cachedLayers.has(l.digest) })),
      tags: [...tags],
      steps: [...run.steps].sort((a, b) => a.step - b.step).map(({ name, cached, seconds }) => ({ name, cached, seconds })),
      image,
      ...(written.pushed.length === 0 ? {} : { pushed: written.pushed }),
      ...(written.loaded.length === 0 ? {} : { loaded: written.loaded }),
      unusedBuildArgs: unusedBuildArgs(plan, required, opts.buildArgs ?? {}),
      warnings: [...imported, ...exported],
    };
  } catch (e) {
    throw fromSystemError(e, cacheDir);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // a RUN that failed half-way may have left a mount: reap it like a dead build's (stale-runs.ts)
    await workspace.close();
    if (lease !== undefined) await endLease(cacheDir, host, lease, used, cacheMaxSize, startedAt);
  }
}

/**
 * The end of a build's use of the cache: what it used marked as just used, the cache brought
 * within its budget (a failure there is not the build's: the cache stays valid whatever is left),
 * then the lease released.
 */
async function endLease(cacheDir: string, host: Host, lease: Lease, used: Used | undefined, maxSize: number | false | undefined, startedAt: number): Promise<void> {
  try {
    if (used !== undefined) await markUsed(cacheDir, used);
    // at most one collection a minute: the module that measures the cache is loaded only then
    if (maxSize !== false && (await collectionDue(cacheDir))) {
      const admin = cacheAdmin();
      await admin.keepCacheBudget(cacheDir, host.pid, lease.name, maxSize ?? (await admin.defaultCacheBudget(cacheDir)), startedAt);
    }
  } catch {
    // collecting is housekeeping: the build's result stands, and the next build collects again
  } finally {
    await lease.release();
  }
}

/** The cache budget asked for (the option, else KEEL_CACHE_MAX_SIZE), checked before the build; undefined: the default. */
function cacheBudgetAsked(opts: BuildOptions, host: Host): number | false | undefined {
  if (opts.cacheMaxSize !== undefined) {
    if (opts.cacheMaxSize !== false && !(Number.isSafeInteger(opts.cacheMaxSize) && opts.cacheMaxSize >= 0)) {
      throw new KeelError('E_BUILD_INPUT', `cacheMaxSize must be a whole number of bytes (or false), not ${opts.cacheMaxSize}`);
    }
    return opts.cacheMaxSize;
  }
  const env = host.env.KEEL_CACHE_MAX_SIZE;
  if (env === undefined || env === '') return undefined;
  try {
    return cacheAdmin().parseSize(env);
  } catch {
    throw new KeelError('E_BUILD_INPUT', `KEEL_CACHE_MAX_SIZE is not a size: ${JSON.stringify(env)} (want e.g. 20GB)`);
  }
}

// modules only some builds use, loaded when one does (every module loaded costs every build's start)
/* eslint-disable @typescript-eslint/no-require-imports */
const remoteCache = (): typeof import('./remote-cache.js') => require('./remote-cache.js') as typeof import('./remote-cache.js');
const cacheAdmin = (): typeof import('./cache-admin.js') => require('./cache-admin.js') as typeof import('./cache-admin.js');
/* eslint-enable @typescript-eslint/no-require-imports */

/** One or several, as a list. */
const listOf = <T>(x: T | readonly T[] | undefined): readonly T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x as T]);

/** A level the compression has: gzip 0-9, zstd 1-22, none no level at all. */
function checkCompressionLevel(compression: NonNullable<BuildOptions['compression']>, level: number | undefined): void {
  if (level === undefined) return;
  const [low, high] = compression === 'gzip' ? [0, 9] : compression === 'zstd' ? [1, 22] : [NaN, NaN];
  if (!Number.isInteger(level) || !(level >= low && level <= high)) {
    throw new KeelError('E_BUILD_INPUT', compression === 'none' ? 'uncompressed layers take no compression level' : `a ${compression} level is a whole number from ${low} to ${high}, not ${level}`);
  }
}

/** One build's scheduling state, shared by its stages. */
interface StageRun {
  readonly services: BuildServices;
  readonly plan: Plan;
  readonly globals: ReadonlyMap<string, string>;
  readonly locate: (e: unknown, at: { range: Range }) => Error;
  readonly slots: Slots;
  /** Stage ids are `<prefix>#<index>`: the Dockerfile's path names a stage across builds. */
  readonly stageIdPrefix: string;
  readonly counter: { steps: number };
  readonly steps: Array<{ step: number; name: string; cached: boolean; seconds: number }>;
  readonly cachedLayers: Set<Digest>;
}

/**
 * Start every stage at once; each waits inside for what it reads. Resolves with every stage's
 * final state, or rejects with the first failure once every stage has stopped.
 */
async function runStages(run: StageRun, order: readonly StagePlan[], abortAll: () => void): Promise<Map<number, StageState>> {
  const done = new Map<number, Promise<StageState>>();
  let first: { error: unknown } | undefined;
  const waitFor = (index: number): Promise<StageState> => done.get(index) as Promise<StageState>;
  for (const stage of order) {
    const building = buildStage(run, stage, waitFor).then((state) => {
      run.services.sources.finished(stage.index, state);
      return state;
    });
    building.catch((error: unknown) => {
      if (first === undefined) {
        first = { error };
        abortAll();
      }
    });
    done.set(stage.index, building);
  }
  const settled = await Promise.allSettled(done.values());
  if (first !== undefined) throw first.error;
  const states = new Map<number, StageState>();
  for (const [i, stage] of order.entries()) states.set(stage.index, (settled[i] as PromiseFulfilledResult<StageState>).value);
  return states;
}

/** A stage's FROM, its base image's ONBUILD triggers, then its instructions, one step each. */
async function buildStage(run: StageRun, stage: StagePlan, waitFor: (index: number) => Promise<StageState>): Promise<StageState> {
  const { services, plan } = run;
  const total = stage.instructions.length + 1;
  const label = (i: number): string => `[${stage.name === undefined ? '' : `${stage.name} `}${i}/${total}]`;
  const image = at(run, stage.from, () => expandWord(stage.from.image.value, run.globals, { escape: services.escape }));
  const id = `${run.stageIdPrefix}#${stage.index}`;
  const base = at(run, stage.from, () => baseStage(plan, stage, run.globals));
  const built = base === undefined ? undefined : await waitFor(base.index);

  let state = emptyStage(id);
  await step(run, stage, `${label(1)} FROM ${image}`, stage.from, async (n) => {
    if (image === '') throw new KeelError('E_BUILD_INPUT', `base name (${stage.from.image.value}) should not be blank`);
    if (built !== undefined) state = inherit(built, id);
    else if (image.toLowerCase() !== 'scratch') {
      const named = services.sources.namedContext(image);
      if (named !== undefined && 'path' in named) {
        throw new KeelError('E_UNSUPPORTED', `FROM ${image}: a folder as a base (--build-context ${image}=${named.path}) is not supported yet; COPY --from=${image} reads it`);
      }
      const progress = progressOf(services.emit, n);
      state = inherit(await services.sources.baseImage(image, (t) => progress(t.digest, t.current, t.total, t.done)), id);
    }
    return { cached: false };
  });

  // ONBUILD triggers of a base image run first, then are not inherited (BuildKit, convert.go)
  const triggers = state.cfg.onBuild;
  if (triggers.length > 0) state = { ...state, cfg: { ...cloneConfig(state.cfg), onBuild: [] } };
  for (const [i, expression] of triggers.entries()) {
    const trigger = parse(`FROM scratch\n${expression}`, { filename: `${image} ONBUILD` }).instructions.slice(1);
    for (const ins of trigger) {
      state = await instructionStep(run, stage, state, ins, `${label(1)} ONBUILD ${i + 1}/${triggers.length}: ${ins.original.trim()}`, stage.from, waitFor);
    }
  }
  for (const [i, ins] of stage.instructions.entries()) {
    state = await instructionStep(run, stage, state, ins, `${label(i + 2)} ${ins.original.trim()}`, ins, waitFor);
  }
  return state;
}

/** One instruction: wait for the stages it reads, then run it as a step; the stage's next state. */
async function instructionStep(
  run: StageRun, stage: StagePlan, state: StageState, ins: Instruction, name: string, where: { range: Range },
  waitFor: (index: number) => Promise<StageState>,
): Promise<StageState> {
  const deps = at(run, where, () => instructionDeps(run.plan, stage, ins));
  await Promise.all(deps.map((d) => waitFor(d.index)));
  const result = await step(run, stage, name, where, (n) => {
    const ctx: StepContext = {
      ...run.services, stepCache: run.services.stepCache.forStage(stage.index), stage: state, stagePlan: stage, step: n, stepId: `${state.id}:${ins.range.start.line}`,
      word: (w) => expandWord(w, state.vars, { escape: run.services.escape }),
    };
    return runInstruction(ins, ctx, run.globals);
  });
  if (result.cached && result.layer !== undefined) run.cachedLayers.add(result.layer.digest);
  return withStep(state, result);
}

/** Run one step in a slot, with progress events; errors get the instruction's location. */
async function step(run: StageRun, stage: StagePlan, name: string, where: { range: Range }, fn: (step: number) => Promise<StepResult>): Promise<StepResult> {
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

function at<T>(run: Pick<StageRun, 'locate'>, node: { range: Range }, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw run.locate(e, node);
  }
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

async function readDockerfile(contextDir: string, given: BuildOptions['dockerfile']): Promise<{ ast: Dockerfile; filename: string; path?: string }> {
  const df = given ?? 'Dockerfile';
  if (typeof df !== 'string') return { ast: parse(df.text, { filename: 'Dockerfile' }), filename: 'Dockerfile' };
  const path = isAbsolute(df) ? df : join(contextDir, df);
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new KeelError('E_BUILD_INPUT', `cannot read the Dockerfile ${path}: ${e.code ?? e.message}`);
  });
  // named in messages as BuildKit names it: the file's name (`Dockerfile.alp:3: ...`), or the path given in the context
  const filename = isAbsolute(df) ? basename(df) : df;
  return { ast: parse(text, { filename }), filename, path };
}

/** Predefined platform ARGs, then the ARGs before the first FROM (build args override defaults). */
function globalArgs(plan: Plan, opts: BuildOptions, p: Platform, b: Platform, escape: '\\' | '`', locate: StageRun['locate']): Map<string, string> {
  const globals = new Map<string, string>([
    ['TARGETPLATFORM', platformString(p)], ['TARGETOS', p.os], ['TARGETARCH', p.architecture], ['TARGETVARIANT', p.variant ?? ''],
    ['BUILDPLATFORM', platformString(b)], ['BUILDOS', b.os], ['BUILDARCH', b.architecture], ['BUILDVARIANT', ''],
  ]);
  for (const ins of plan.globalArgs) {
    for (const d of ins.declarations) {
      const given = opts.buildArgs?.[d.name];
      if (given !== undefined) globals.set(d.name, given);
      else if (d.default !== undefined) globals.set(d.name, at({ locate }, ins, () => expandWord(d.default as string, globals, { escape })));
    }
  }
  return globals;
}

function registryOptions(opts: BuildOptions, signal: AbortSignal, httpFetch: Fetch): RegistryOptions {
  return {
    fetch: httpFetch,
    ...(opts.insecureRegistries === undefined ? {} : { insecureRegistries: opts.insecureRegistries }),
    ...(opts.auth === undefined ? {} : { auth: opts.auth }),
    ...(opts.dockerConfigDir === undefined ? {} : { dockerConfigDir: opts.dockerConfigDir }),
    ...(opts.uploadChunkSize === undefined ? {} : { uploadChunkSize: opts.uploadChunkSize }),
    signal,
  };
}
