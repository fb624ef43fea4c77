/**
 * A stage while it is built: its config, variables, layers, history and (when a step has needed
 * it) its file tree. A state is replaced, never edited, as each step's result is applied
 * (withStep); the image config and history of a finished stage follow BuildKit
 * (dockerfile2llb/image.go, convert.go).
 */
import { storedLayers, type ChainLayer, type ContainerConfig, type Digest, type HistoryEntry, type ImageConfig, type Layer, type Platform } from '../image/index.js';
import { StageFs } from '../tree/index.js';
import type { BaseImage } from './base-image.js';
import { imageKey, layerKey, SCRATCH_KEY, type ChainKey } from './cache-key.js';
import { DEFAULT_PATH, type StageConfig } from './metadata.js';
import type { StepResult } from './step-context.js';

export interface StageState {
  /** Where this stage is in the Dockerfile, to name its steps across builds. */
  readonly id: string;
  /** The registry image it started from (for the output's base annotations). */
  readonly base?: { readonly name: string; readonly digest: Digest };
  /**
   * The file tree, when a step has needed it (COPY, WORKDIR, a bind mount, the copy path of RUN);
   * undefined means "the layers stacked", made only when asked for (Sources.treeOf).
   */
  readonly tree: StageFs | undefined;
  readonly cfg: StageConfig;
  readonly vars: ReadonlyMap<string, string>;
  /** Bottom first; a layer a step made may still be pending while its blob is made (settled at the stage's end). */
  readonly layers: readonly ChainLayer[];
  /** What the stage's files are a function of (cache-key.ts ChainKey): the key its next step is found under. */
  readonly key: ChainKey;
  readonly history: readonly HistoryEntry[];
  /** The last step of the stage that missed the cache in this build (its progress name), to explain the misses after it. */
  readonly lastMiss?: string;
  /** A base image as loaded (before a stage inherits it): the platform its config names. */
  readonly imagePlatform?: Platform;
}

export function emptyStage(id: string): StageState {
  return {
    id,
    tree: new StageFs(),
    cfg: {
      env: [['PATH', DEFAULT_PATH]],
      labels: new Map(),
      exposedPorts: new Set(),
      volumes: new Set(),
      workdir: '', // BuildKit gives scratch a WorkingDir of / (dockerfile2llb/image.go)
      cmdSetInStage: false,
      onBuild: [],
      argsEscaped: false,
    },
    vars: new Map([['PATH', DEFAULT_PATH]]),
    layers: [],
    key: SCRATCH_KEY,
    history: [],
  };
}

/** A finished stage: every layer's blob stored. */
export interface SettledStage extends StageState {
  readonly layers: readonly Layer[];
}

/** The stage once the blobs of its pending layers are stored; rejects when one could not be. */
export async function settled(s: StageState): Promise<SettledStage> {
  return { ...s, layers: await storedLayers(s.layers) };
}

/** A base image as the state a stage starts from (its tree made only when a step needs it). */
export function stageFromImage(image: BaseImage, origin?: StageState['base']): StageState {
  return {
    id: '', tree: undefined, cfg: image.cfg, vars: new Map(image.cfg.env), layers: [...image.layers], key: imageKey(image.layers), history: [...image.history],
    ...(origin === undefined ? {} : { base: origin }), ...(image.platform === undefined ? {} : { imagePlatform: image.platform }),
  };
}

/** A copy of a config whose collections a step may change. */
export function cloneConfig(cfg: StageConfig): StageConfig {
  return {
    ...cfg,
    env: cfg.env.map(([k, v]) => [k, v] as [string, string]),
    labels: new Map(cfg.labels),
    exposedPorts: new Set(cfg.exposedPorts),
    volumes: new Set(cfg.volumes),
    onBuild: [...cfg.onBuild],
  };
}

/** A new stage (`id`) starting where `base` ends: `FROM <stage or image>`. */
export function inherit(base: StageState, id: string): StageState {
  const cfg: StageConfig = { ...cloneConfig(base.cfg), cmdSetInStage: false };
  return {
    id, tree: base.tree?.clone(), cfg, vars: new Map(cfg.env), layers: [...base.layers], key: base.key, history: [...base.history],
    ...(base.base === undefined ? {} : { base: base.base }),
    ...(base.lastMiss === undefined ? {} : { lastMiss: base.lastMiss }),
  };
}

/** The state after a step. */
export function withStep(s: StageState, r: StepResult): StageState {
  return {
    ...s,
    tree: r.treeStale === true ? undefined : r.tree ?? s.tree,
    cfg: r.cfg ?? s.cfg,
    vars: r.vars ?? s.vars,
    layers: r.layer === undefined ? s.layers : [...s.layers, r.layer],
    // a step that added a layer names the files after it; one found by its content alone is keyed by it
    key: r.layer === undefined ? s.key : r.key ?? layerKey(s.key, r.layer.diffId),
    history: r.history === undefined ? s.history : [...s.history, { ...r.history, ...(r.layer === undefined ? { empty_layer: true } : {}) }],
  };
}

/** A history entry as BuildKit writes it (the `empty_layer` mark is added by withStep). */
export function historyEntry(createdBy: string, created: string): HistoryEntry {
  return { created, created_by: createdBy, comment: 'buildkit.dockerfile.v0' };
}

/** The image config of a finished stage. */
export function imageConfig(s: StageState, platform: Platform, created: string): ImageConfig {
  const c = s.cfg;
  const set = (xs: ReadonlySet<string>) => (xs.size === 0 ? undefined : Object.fromEntries([...xs].sort().map((k) => [k, {}])));
  const config: ContainerConfig = {
    ...(c.user === undefined ? {} : { User: c.user }),
    ...(set(c.exposedPorts) === undefined ? {} : { ExposedPorts: set(c.exposedPorts) }),
    Env: c.env.map(([k, v]) => `${k}=${v}`),
    ...(c.entrypoint === undefined ? {} : { Entrypoint: c.entrypoint }),
    ...(c.cmd === undefined ? {} : { Cmd: c.cmd }),
    ...(set(c.volumes) === undefined ? {} : { Volumes: set(c.volumes) }),
    ...(c.workdir === undefined ? {} : { WorkingDir: `/${c.workdir}` }),
    ...(c.labels.size === 0 ? {} : { Labels: Object.fromEntries(c.labels) }),
    ...(c.stopSignal === undefined ? {} : { StopSignal: c.stopSignal }),
    ...(c.healthcheck === undefined ? {} : { Healthcheck: c.healthcheck }),
    ...(c.shell === undefined ? {} : { Shell: c.shell }),
    ...(c.onBuild.length === 0 ? {} : { OnBuild: c.onBuild }),
    ...(c.argsEscaped ? { ArgsEscaped: true } : {}),
  };
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    created,
    ...(c.author === undefined ? {} : { author: c.author }),
    config,
    rootfs: { type: 'layers', diff_ids: s.layers.map((l) => l.diffId) },
    history: [...s.history],
  };
}
