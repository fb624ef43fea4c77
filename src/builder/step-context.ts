/**
 * What a step gets and what it gives back. A step is a function of its StepContext (the build's
 * shared parts and the stage as it stands) returning a StepResult; the scheduler applies the
 * result to the stage (stage.ts withStep). Nothing flows through side channels.
 */
import type { BlobStore, FileHasher, StepCache, StepCacheView } from '../cache/index.js';
import type { ChainLayer, Compression, Digest, HistoryEntry, Platform } from '../image/index.js';
import type { Fetch } from '../registry/index.js';
import type { RunWorkspace } from '../runtime/index.js';
import type { Snapshots } from '../snapshot/index.js';
import type { StageFs, UnpackLimits } from '../tree/index.js';
import type { StageConfig } from './metadata.js';
import type { BuildOptions } from './options.js';
import type { StagePlan } from './plan.js';
import type { BuildEvent } from './progress.js';
import type { Sources } from './sources.js';
import type { StageState } from './stage.js';
import type { Timestamps } from './timestamps.js';
import type { CacheMountLeases } from './cache-mounts.js';
import type { CdiRegistry } from '../runtime/index.js';
import type { VerifiedLayers } from './verified-layers.js';

/** One build's parts, the same for every step of every stage. */
export interface BuildServices {
  readonly opts: BuildOptions;
  readonly cacheDir: string;
  readonly blobs: BlobStore;
  readonly stepCache: StepCache;
  readonly hasher: FileHasher;
  /** Layers' diffIDs checked against their content before anything is named by them. */
  readonly verified: VerifiedLayers;
  readonly times: Timestamps;
  readonly sources: Sources;
  readonly workspace: RunWorkspace;
  /** The snapshots RUN runs on (overlayfs over layer folders, or copies). */
  readonly snapshots: Snapshots;
  /** Which cache mounts RUNs hold (sharing=shared|locked|private). */
  readonly cacheMounts: CacheMountLeases;
  /** The CDI devices registered on this machine (read once, when a RUN --device asks). */
  readonly cdiDevices: () => Promise<CdiRegistry>;
  readonly compression: Compression;
  /** The compression level asked for (`compression-level=`); each compression's default when undefined. */
  readonly compressionLevel?: number;
  /** How much an archive or layer may unpack to. */
  readonly limits: UnpackLimits;
  readonly noCache: boolean;
  /** The Dockerfile's escape character. */
  readonly escape: '\\' | '`';
  /** Aborted by the caller, or when another stage failed. */
  readonly signal: AbortSignal;
  /** HTTP for ADD URLs (through the build's proxy). */
  readonly fetch: Fetch;
  readonly emit: (event: BuildEvent) => void;
}

export interface StepContext extends Omit<BuildServices, 'stepCache'> {
  /** The step cache as this stage uses it. */
  readonly stepCache: StepCacheView;
  /** The stage before this step. */
  readonly stage: StageState;
  readonly stagePlan: StagePlan;
  /** The platform the stage is built for: its `FROM --platform`, its base stage's, else the target's. */
  readonly platform: Platform;
  /**
   * What `--from=ref` (COPY, RUN --mount) names: an earlier stage of this target (by name, or by
   * index where `allowIndex`), else an image for the target platform.
   */
  readonly stageOrImage: (ref: string, allowIndex: boolean) => Promise<StageState>;
  /** The step's progress number (its log events carry it). */
  readonly step: number;
  /** Names this step across builds (`<Dockerfile>#<stage>:<line>`), to explain a cache miss against the last build. */
  readonly stepId: string;
  /** A word of the instruction, expanded with the stage's variables. */
  readonly word: (raw: string) => string;
}

export interface StepResult {
  /** The layer the step added; none when it changed no file. Pending while its blob is made (a COPY a RUN follows). */
  readonly layer?: ChainLayer;
  /** The step's key, the stage's chain key after its layer (cache-key.ts ChainKey); without one, the layer's content keys what follows. */
  readonly key?: Digest;
  /** Its history entry (empty_layer is added when there is no layer); none for a step BuildKit records none for. */
  readonly history?: HistoryEntry;
  /** The stage's config and variables after the step, when it changed them. */
  readonly cfg?: StageConfig;
  readonly vars?: ReadonlyMap<string, string>;
  /** The stage's file tree after the step, when the step made or changed it. */
  readonly tree?: StageFs;
  /**
   * The stage's tree no longer matches its layers (a cached layer was added without applying it):
   * it is dropped, and made again from the layers by a later step that needs one.
   */
  readonly treeStale?: true;
  /** Whether the step's result came from the cache, and, for a layer that did not, why not. */
  readonly cached: boolean;
  readonly reason?: string;
}
