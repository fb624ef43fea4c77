/**
 * What leaves a build once its stages are solved: the final image written to each output (its
 * layers checked first), the steps it used exported to the shared caches asked for, and what it
 * used marked for the cache's collection.
 */
import type { BlobStore, CacheEntry, StepCache, Used } from '../cache/index.js';
import { isKeelError, KeelError } from '../errors.js';
import { imagesOf, parseReference, type BuiltArtifact, type BuiltImage, type Platform } from '../image/index.js';
import type { RegistryOptions } from '../registry/index.js';
import type { Host } from './host.js';
import { layerEntries } from './layers.js';
import type { BuildOutput, CacheExport } from './options.js';
import { writeOutputs, type ExportSteps, type OutputsWritten } from './outputs.js';
import { baseStage, type Plan, type StagePlan } from './plan.js';
import type { BuiltStage, Target } from './solve.js';
import type { Sources } from './sources.js';
import type { SettledStage } from './stage.js';
import type { VerifiedLayers } from './verified-layers.js';
import { remoteCache } from './lazy-modules.js';

/** The blobs and layers the solved stages used (the most recently used, for the budget's collection). */
export function usedBy(solved: readonly ReadonlyMap<number, BuiltStage>[]): Used {
  const stagesBuilt = solved.flatMap((m) => [...m.values()].map((b) => b.state));
  const layers = stagesBuilt.flatMap((st) => st.layers);
  return {
    blobs: [...layers.map((l) => l.digest), ...stagesBuilt.flatMap((st) => (st.base === undefined ? [] : [st.base.digest]))],
    layers: layers.map((l) => l.diffId),
  };
}

/**
 * The steps a cache export holds: `min`, the final images' (their stages and the stages they are
 * built FROM, for every platform); `max`, every stage's.
 */
export function cacheEntries(stepCache: StepCache, plan: Plan, target: StagePlan, targets: readonly Target[]): (mode: 'min' | 'max') => CacheEntry[] {
  const chain = new Set<number>();
  for (const t of targets) for (let s: StagePlan | undefined = target; s !== undefined; s = baseStage(plan, s, t.globals)) chain.add(s.index);
  return (mode) => [...stepCache.used]
    .filter(([, u]) => mode === 'max' || (u.stage !== undefined && chain.has(u.stage))).map(([key, u]) => ({ key, record: u.record }));
}

export interface ExportsAsked {
  readonly artifact: BuiltArtifact;
  /** The final stage of each image, in the artifact's order. */
  readonly finals: readonly SettledStage[];
  readonly images: readonly BuiltImage[];
  readonly outputs: readonly BuildOutput[];
  readonly cacheTo: readonly CacheExport[];
  readonly tags: readonly string[];
  readonly entries: (mode: 'min' | 'max') => CacheEntry[];
  readonly host: Host;
  readonly hostPlatform: Platform;
  readonly registry: RegistryOptions;
  readonly blobs: BlobStore;
  readonly verified: VerifiedLayers;
  readonly sources: Sources;
  readonly steps: ExportSteps;
  readonly signal: AbortSignal;
}

export interface Exported extends OutputsWritten {
  /** What the cache exports warn of (a registry that refused a mount...). */
  readonly cacheWarnings: readonly string[];
}

export async function exportBuild(a: ExportsAsked): Promise<Exported> {
  const { artifact, outputs, tags, host, registry, blobs, signal } = a;
  const baseName = a.finals.find((f) => f.base !== undefined)?.base?.name;
  await outputLayersVerified(artifact, outputs, a.verified, blobs, signal);
  const written = await writeOutputs(artifact, outputs, {
    tags, blobs, signal, hostPlatform: a.hostPlatform,
    // a local folder's files are the caller's, without devices or setuid bits (output/rootfs.ts)
    ...(host.uid === undefined || host.gid === undefined ? {} : { owner: { uid: host.uid, gid: host.gid } }),
    registry: { ...registry, ...(baseName === undefined ? {} : { baseName }) },
    rootfs: async (image) => {
      const final = a.finals[a.images.indexOf(image)] as SettledStage;
      const tree = await a.sources.readTree(final);
      return layerEntries(tree.paths(), tree);
    },
  }, a.steps).catch((e: unknown) => {
    // an abort while a stream is being written is the build's abort, not a stream's error
    throw signal.aborted && !isKeelError(e) ? new KeelError('E_ABORTED', 'build aborted', { cause: e }) : e;
  });
  const cacheWarnings = a.cacheTo.length === 0 ? [] : await remoteCache().exportCaches(a.cacheTo, a.entries, {
    blobs, registry,
    // the registry may mount layers it holds under the base's or the pushed image's name
    mountFrom: [...(baseName === undefined ? [] : [baseName]), ...outputs.flatMap((o) => (o.type === 'registry' ? o.names ?? tags : []))].map((n) => parseReference(n)),
  });
  return { ...written, cacheWarnings };
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
