/**
 * build(): a Dockerfile and a build context to an image (or, for several platforms, an index of
 * one image per platform), handed to the outputs. This module puts the build's phases in order:
 * the options checked (build-options.ts), the machine's parts made (build-services.ts), the
 * Dockerfile read and planned (build-input.ts), the stages solved (solve.ts, steps/), the final
 * images assembled (final-image.ts), then the outputs and cache exports (build-exports.ts).
 */
import { collectionDue, markUsed, openCacheDir, takeLease, type Lease, type Used } from '../cache/index.js';
import { topDescriptor, type BuiltImage } from '../image/index.js';
import { fromSystemError } from './errors.js';
import { checkedOptions } from './build-options.js';
import { cacheEntries, exportBuild, usedBy } from './build-exports.js';
import { readBuildInput, requiredByAny } from './build-input.js';
import { buildServices, machineParts } from './build-services.js';
import { readHost, type Host } from './host.js';
import type { BuildOptions, BuildResult } from './options.js';
import { unusedBuildArgs } from './plan.js';
import { Slots } from './slots.js';
import { checksAfterBuild, checksBeforeBuild, type BuildChecks } from './build-checks.js';
import { solve, type BuildRun, type BuiltStage } from './solve.js';
import type { SettledStage } from './stage.js';
import { finalImages } from './final-image.js';
import { remoteCache, cacheAdmin } from './lazy-modules.js';

export function build(options: BuildOptions): Promise<BuildResult> {
  return buildOn(readHost(), options);
}

/** build() with the process facts given (tests give their own). */
export async function buildOn(host: Host, opts: BuildOptions): Promise<BuildResult> {
  const checked = await checkedOptions(opts, host);
  const { buildPlatform, platforms, cacheDir, times, outputs, cacheTo, cacheFrom, maxParallelism, cacheMaxSize } = checked;
  const startedAt = Date.now();
  const machine = machineParts(host, checked, opts);
  const { workspace, folders } = machine;
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
    const input = await readBuildInput(opts, checked, workspace, abort.signal);
    const { plan, target, targets, locate } = input;
    const { services, registry } = buildServices(host, checked, opts, machine, input, abort.signal);
    const { blobs, verified, sources, stepCache } = services;
    // other machines' steps (cacheFrom): their lists now, their layers when read
    const imported = opts.noCache === true || cacheFrom.length === 0 ? [] : await remoteCache().importCaches(cacheFrom, { blobs, stepCache, verified, registry });
    const run: BuildRun = {
      services, plan, locate, slots: new Slots(maxParallelism), stageIdPrefix: input.dockerfilePath ?? '<text>', hostPlatform: buildPlatform,
      namePlatforms: targets.length > 1, counter: { steps: 0 }, steps: [], cachedLayers: new Set(),
    };
    const checks: BuildChecks = {
      ast: input.ast, filename: input.filename, opts, targets, buildPlatform, ignorePatterns: () => sources.ignorePatterns(),
    };
    const sent = await checksBeforeBuild(checks, services.emit);
    const solved = await solve(run, targets, () => abort.abort());
    const findings = await checksAfterBuild(checks, solved, sent, services.emit);
    await machine.hasher.save();
    used = usedBy(solved);

    const entries = cacheEntries(stepCache, plan, target, targets);
    const { finals, images, artifact } = finalImages(solved.map((m) => m.get(target.index) as BuiltStage), {
      platforms, explicit: opts.platform !== undefined || opts.platforms !== undefined, created: times.created(),
      ...(cacheTo.some((c) => c.type === 'inline') ? { inlineCache: (final: SettledStage) => remoteCache().inlineCache(entries('min'), final.layers), inlineKey: remoteCache().INLINE_CACHE_KEY } : {}),
      ...(opts.labels === undefined ? {} : { labels: opts.labels }), ...(opts.annotations === undefined ? {} : { annotations: opts.annotations }),
    });
    const tags = opts.tags ?? [];
    const exported = await exportBuild({
      artifact, finals, images, outputs, cacheTo, tags, entries, host, hostPlatform: buildPlatform, registry, blobs, verified, sources,
      steps: { next: () => ++run.counter.steps, emit: services.emit }, signal: abort.signal,
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
      ...(exported.pushed.length === 0 ? {} : { pushed: exported.pushed }),
      ...(exported.loaded.length === 0 ? {} : { loaded: exported.loaded }),
      unusedBuildArgs: unusedBuildArgs(plan, requiredByAny(targets), opts.buildArgs ?? {}),
      warnings: [...imported, ...exported.warnings, ...exported.cacheWarnings],
      findings,
    };
  } catch (e) {
    throw fromSystemError(e, cacheDir);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // nothing of this build runs on after it returns: the overlayfs probe writes in the cache folder and mounts in the workspace
    await folders.settled();
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
