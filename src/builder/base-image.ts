/**
 * Base images: finding an archive given in `baseImages` by the name FROM or `COPY --from` uses,
 * and turning an image (from any source: image-sources.ts) into a starting point for a stage: its
 * config as the stage's config, its history and layers.
 */
import { parseTag, type HistoryEntry, type ImageConfig, type Layer, type Platform } from '../image/index.js';
import { DEFAULT_PATH, type StageConfig } from './metadata.js';

export interface BaseImage {
  /** The platform its config names (what InvalidBaseImagePlatform compares with the stage's). */
  readonly platform?: Platform;
  readonly cfg: StageConfig;
  readonly history: readonly HistoryEntry[];
  readonly layers: readonly Layer[];
}

/** The archive given for `name`: by the exact name, else by the same normalised reference (`bb` = `docker.io/library/bb:latest`). */
export function findBaseImage(given: Readonly<Record<string, string>>, name: string): string | undefined {
  if (Object.hasOwn(given, name)) return given[name];
  const full = (ref: string): string | undefined => {
    try {
      return parseTag(ref).full;
    } catch {
      return undefined;
    }
  };
  const wanted = full(name);
  return wanted === undefined ? undefined : Object.entries(given).find(([k]) => full(k) === wanted)?.[1];
}

/** An image whose config and layers are in the store, as the start of a stage. */
export function baseFromImage(image: { readonly config: ImageConfig; readonly layers: readonly Layer[] }): BaseImage {
  const c = image.config.config ?? {};
  const env = (c.Env ?? []).map((e) => {
    const i = e.indexOf('=');
    return [i < 0 ? e : e.slice(0, i), i < 0 ? '' : e.slice(i + 1)] as [string, string];
  });
  // BuildKit makes sure PATH is set (dockerfile2llb/convert.go)
  if (!env.some(([k]) => k === 'PATH')) env.push(['PATH', DEFAULT_PATH]);
  const cfg: StageConfig = {
    env,
    labels: new Map(Object.entries(c.Labels ?? {})),
    exposedPorts: new Set(Object.keys(c.ExposedPorts ?? {})),
    volumes: new Set(Object.keys(c.Volumes ?? {})),
    ...(c.WorkingDir ? { workdir: c.WorkingDir.replace(/^\/+/, '').replace(/\/+$/, '') } : {}),
    cmdSetInStage: false,
    onBuild: [...(c.OnBuild ?? [])],
    argsEscaped: c.ArgsEscaped ?? false,
    ...(c.User ? { user: c.User } : {}),
    ...(c.Cmd ? { cmd: c.Cmd } : {}),
    ...(c.Entrypoint ? { entrypoint: c.Entrypoint } : {}),
    ...(c.Shell ? { shell: c.Shell } : {}),
    ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
    ...(c.Healthcheck ? { healthcheck: c.Healthcheck } : {}),
    ...(image.config.author ? { author: image.config.author } : {}),
  };
  const { os, architecture, variant } = image.config;
  const platform = os && architecture ? { os, architecture, ...(variant ? { variant } : {}) } : undefined;
  return { ...(platform === undefined ? {} : { platform }), cfg, history: image.config.history ?? [], layers: image.layers };
}
