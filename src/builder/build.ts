/**
 * build(): a Dockerfile and a build context to an image (or, for several platforms, an index of
 * one image per platform), handed to the outputs. This module checks the options and plans;
 * solve.ts schedules the stages, steps/ does the work of each instruction, output/ writes the image.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobStore, collectionDue, DiffIdRecord, FileHasher, markUsed, openCacheDir, StepCache, takeLease, type CacheEntry, type Lease, type Used } from '../cache/index.js';
import { isKeelError, KeelError } from '../errors.js';
import { imagesOf, parseReference, topDescriptor, type BuiltArtifact, type BuiltImage, type Platform } from '../image/index.js';
import { expandWord, parse, type Dockerfile, type Range } from '../parser/index.js';
import { proxiedFetch, proxyFromEnv, type Fetch, type RegistryOptions } from '../registry/index.js';
import { DEFAULT_CDI_DIRS, ociRuntime, readCdiSpecs, RunWorkspace } from '../runtime/index.js';
import { LayerFolders, Snapshots } from '../snapshot/index.js';
import type { UnpackLimits } from '../tree/index.js';
import { DockerfileError, fromSystemError } from './errors.js';
import { CacheMountLeases } from './cache-mounts.js';
import { checkedOptions } from './build-options.js';
import { checkEntitlements } from './entitlements.js';
import { chooseRuntime, readHost, type Host } from './host.js';
import type { BuildOptions, BuildOutput, BuildResult } from './options.js';
import { baseStage, planStages, requiredStages, targetStage, unusedBuildArgs, type Plan, type StagePlan } from './plan.js';
import { layerEntries } from './layers.js';
import { writeOutputs } from './outputs.js';
import { Slots } from './slots.js';
import { Sources } from './sources.js';
import { predefinedArgs } from '../checks/index.js';
import { checksAfterBuild, checksBeforeBuild, type BuildChecks } from './build-checks.js';
import { readDockerfileText } from './dockerfile-file.js';
import { solve, at, type BuildRun, type BuiltStage, type Target } from './solve.js';
import type { StageState } from './stage.js';
import { finalImages } from './final-image.js';
import type { BuildServices } from './step-context.js';
import { baseUnpacker } from './unpack-base.js';
import { VerifiedLayers } from './verified-layers.js';

export function build(options: BuildOptions): Promise<BuildResult> {
  return buildOn(readHost(), options);
}

/** build() with the process facts given (tests give their own). */
export async function buildOn(host: Host, opts: BuildOptions): Promise<BuildResult> {
  const { buildPlatform, platforms, cacheDir, times, outputs, cacheTo, cacheFrom, maxParallelism, limits, cacheMaxSize } = await checkedOptions(opts, host);
  const startedAt = Date.now();
  const blobs = new BlobStore(cacheDir, host.pid);
  const hasher = new FileHasher(cacheDir);
  const verified = new VerifiedLayers(new DiffIdRecord(cacheDir), blobs, limits);
  // a Runtime object (a test's, or an embedder's executor) as given; a name: runc or crun by their CLI
  const given = opts.runtime;
  const workspace = new RunWorkspace({
    cacheDir,
    runtime: typeof given === 'object' ? () => given : () => ociRuntime(chooseRuntime(given, host.env), {
      host: { arch: host.arch, kernel: host.kernel, cgroupV2: host.cgroupV2, ...(host.boundingCaps === undefined ? {} : { boundingCaps: host.boundingCaps }) },
      ...(host.sandbox.userNamespace ? { stateRoot: join(cacheDir, 'runc') } : {}),
    }),
    sandbox: host.sandbox,
    privileged: host.uid === 0,
    pid: host.pid,
    hostPlatform: buildPlatform,
    binfmtDir: host.binfmtDir,
  });
  // the folders RUN's snapshots stack (a test's or an embedder's snapshotter, if given, for every RUN)
  const folders = new LayerFolders({
    cacheDir,
    sandbox: host.sandbox,
    rootfs: host.env.KEEL_RUN_ROOTFS === 'copy' ? 'copy' : 'overlay',
    blobs,
    limits,
    verify: (layer, signal) => verified.verify(layer, signal),
    learned: (layer, diffId) => verified.learned(layer, diffId),
    scratchPath: (prefix) => workspace.scratchPath(prefix),
  });
  const snapshots = new Snapshots(folders, opts.snapshotter);
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
    const target = targetStage(plan, opts.target);
    const targets: Target[] = platforms.map((p) => {
      const globals = globalArgs(plan, opts, p, buildPlatform, escape, locate);
      return { platform: p, globals, required: requiredStages(plan, target, globals) };
    });
    // what escapes RUN's sandbox is asked before any step runs, as BuildKit validates a build's
    // entitlements before solving it (ONBUILD triggers are checked at their step)
    for (const stage of new Set(targets.flatMap((t) => t.required))) {
      for (const ins of stage.instructions) if (ins.kind === 'RUN') at({ locate }, ins, () => checkEntitlements(ins, opts));
    }
    // whether overlayfs mounts here is asked while the steps before the first RUN run
    if (host.uid === 0 && opts.snapshotter === undefined && [...new Set(targets.flatMap((t) => t.required))].some((s) => s.instructions.some((i) => i.kind === 'RUN'))) {
      void folders.usable(1);
    }
    const httpFetch = proxiedFetch(opts.proxy ?? proxyFromEnv(host.env));
    const registry = registryOptions(opts, abort.signal, httpFetch);
    // a base's layer is unpacked while it downloads for the RUNs to come, unless a shared cache is
    // imported: then the RUNs are likely hits, which need no layer folder
    const unpacker = cacheFrom.length > 0 ? undefined : baseUnpacker(workspace, folders, plan, abort.signal);
    const sources = new Sources({
      contextDir,
      ...(df.path === undefined ? {} : { dockerfilePath: df.path }),
      blobs, cacheDir, baseImages: opts.baseImages ?? {}, registry, ...(opts.pull === undefined ? {} : { pull: opts.pull }),
      verify: (layer) => verified.verify(layer, abort.signal),
      limits,
      ...(unpacker === undefined ? {} : { unpackWhilePulling: unpacker }),
      ...(opts.namedContexts === undefined ? {} : { namedContexts: opts.namedContexts }),
    });
    const services: BuildServices = {
      opts, cacheDir, blobs, stepCache: new StepCache(cacheDir, blobs), hasher, verified, times, sources, workspace, snapshots, cacheMounts: new CacheMountLeases(),
      cdiDevices: onceAsync(() => readCdiSpecs(opts.cdiSpecDirs ?? DEFAULT_CDI_DIRS)),
      compression: opts.compression ?? 'gzip', ...(opts.compressionLevel === undefined ? {} : { compressionLevel: opts.compressionLevel }), limits, noCache: opts.noCache === true, escape, signal: abort.signal, fetch: httpFetch,
      emit: (e) => opts.onProgress?.(e),
    };
    // other machines' steps (cacheFrom): their lists now, their layers when read
    const imported = opts.noCache === true || cacheFrom.length === 0 ? [] : await remoteCache().importCaches(cacheFrom, { blobs, stepCache: services.stepCache, verified, registry });
    const run: BuildRun = {
      services, plan, locate, slots: new Slots(maxParallelism), stageIdPrefix: df.path ?? '<text>', hostPlatform: buildPlatform,
      namePlatforms: targets.length > 1, counter: { steps: 0 }, steps: [], cachedLayers: new Set(),
    };
    const checks: BuildChecks = {
      ast: df.ast, filename: df.filename, opts, targets, buildPlatform, ignorePatterns: () => sources.ignorePatterns(),
    };
    const sent = await checksBeforeBuild(checks, services.emit);
    const solved = await solve(run, targets, () => abort.abort());
    const findings = await checksAfterBuild(checks, solved, sent, services.emit);
    await hasher.save();
    // what this build used is the most recently used, for the budget's collection
    const stagesBuilt = solved.flatMap((m) => [...m.values()].map((b) => b.state));
    const layersUsed = stagesBuilt.flatMap((st) => st.layers);
    used = {
      blobs: [...layersUsed.map((l) => l.digest), ...stagesBuilt.flatMap((st) => (st.base === undefined ? [] : [st.base.digest]))],
      layers: layersUsed.map((l) => l.diffId),
    };

    // the steps a cache export holds: min, the final images' (their stages and the stages they are built FROM); max, every stage's
    const chain = new Set<number>();
    for (const t of targets) for (let s: StagePlan | undefined = target; s !== undefined; s = baseStage(plan, s, t.globals)) chain.add(s.index);
    const entriesFor = (mode: 'min' | 'max'): CacheEntry[] => [...services.stepCache.used]
      .filter(([, u]) => mode === 'max' || (u.stage !== undefined && chain.has(u.stage))).map(([key, u]) => ({ key, record: u.record }));
    const { finals, images, artifact } = finalImages(solved.map((m) => m.get(target.index) as BuiltStage), {
      platforms, explicit: opts.platform !== undefined || opts.platforms !== undefined, created: times.created(),
      ...(cacheTo.some((c) => c.type === 'inline') ? { inlineCache: (final: StageState) => remoteCache().inlineCache(entriesFor('min'), final.layers), inlineKey: remoteCache().INLINE_CACHE_KEY } : {}),
      ...(opts.labels === undefined ? {} : { labels: opts.labels }), ...(opts.annotations === undefined ? {} : { annotations: opts.annotations }),
    });
    const baseName = finals.find((f) => f.base !== undefined)?.base?.name;
    const tags = opts.tags ?? [];
    await outputLayersVerified(artifact, outputs, verified, blobs, abort.signal);
    const written = await writeOutputs(artifact, outputs, {
      tags, blobs, signal: abort.signal, hostPlatform: buildPlatform,
      // a local folder's files are the caller's, without devices or setuid bits (output/rootfs.ts)
      ...(host.uid === undefined || host.gid === undefined ? {} : { owner: { uid: host.uid, gid: host.gid } }),
      registry: { ...registry, ...(baseName === undefined ? {} : { baseName }) },
      rootfs: async (image) => {
        const final = finals[images.indexOf(image)] as StageState;
        const tree = await sources.readTree(final);
        return layerEntries(tree.paths(), tree);
      },
    }, { next: () => ++run.counter.steps, emit: services.emit }).catch((e: unknown) => {
      // an abort while a stream is being written is the build's abort, not a stream's error
      throw abort.signal.aborted && !isKeelError(e) ? new KeelError('E_ABORTED', 'build aborted', { cause: e }) : e;
    });
    const exported = cacheTo.length === 0 ? [] : await remoteCache().exportCaches(cacheTo, entriesFor, {
      blobs, registry,
      mountFrom: [...(baseName === undefined ? [] : [baseName]), ...outputs.flatMap((o) => (o.type === 'registry' ? o.names ?? tags : []))].map((n) => parseReference(n)),
    });
    const image = images[0] as BuiltImage;
    return {
      manifestDigest: topDescriptor(artifact).digest,
      configDigest: image.configBlob.digest,
      layers: image.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, cached: run.cachedLayers.has(l.digest) })),
      tags: [...tags],
      steps: [...run.steps].sort((a, b) => a.step - b.step).map(({ name, cached, seconds }) => ({ name, cached, seconds })),
      image,
      ...(artifact.kind === 'index' ? { index: artifact } : {}),
      ...(written.pushed.length === 0 ? {} : { pushed: written.pushed }),
      ...(written.loaded.length === 0 ? {} : { loaded: written.loaded }),
      unusedBuildArgs: unusedBuildArgs(plan, [...new Set(targets.flatMap((t) => t.required))], opts.buildArgs ?? {}),
      warnings: [...imported, ...written.warnings, ...exported],
      findings,
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

/**
 * An output's config names each layer by its diffID, so each is checked first (once per cache,
 * verified-layers.ts): a base passed through unchanged (`FROM image` + `LABEL`) whose config lies
 * fails here, not in `docker load`. A push of a layer only the registry holds (an imported cache's,
 * never fetched) cannot be checked without fetching it, and is pushed as the cache claims it.
 */
async function outputLayersVerified(artifact: BuiltArtifact, outputs: readonly BuildOutput[], verified: VerifiedLayers, blobs: BlobStore, signal: AbortSignal): Promise<void> {
  const bytesWritten = outputs.some((o) => o.type !== 'registry');
  for (const image of imagesOf(artifact)) {
    for (const layer of image.layers) {
      if (bytesWritten || (await blobs.stat(layer.digest)) !== undefined) await verified.verify(layer, signal);
    }
  }
}

/** `fn` called once, when first asked (its failure asked again). */
function onceAsync<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn().catch((e: unknown) => {
    p = undefined;
    throw e;
  }));
}

// modules only some builds use, loaded when one does (every module loaded costs every build's start)
/* eslint-disable @typescript-eslint/no-require-imports */
const remoteCache = (): typeof import('./remote-cache.js') => require('./remote-cache.js') as typeof import('./remote-cache.js');
const cacheAdmin = (): typeof import('./cache-admin.js') => require('./cache-admin.js') as typeof import('./cache-admin.js');
/* eslint-enable @typescript-eslint/no-require-imports */

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
  const df = await readDockerfileText(contextDir, given);
  return { ast: parse(df.text, { filename: df.filename }), filename: df.filename, ...(df.path === undefined ? {} : { path: df.path }) };
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
