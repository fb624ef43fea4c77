/**
 * Base images given as archives (`baseImages`): finding one by the name FROM or `COPY --from`
 * uses, and turning it into a starting point for a stage: its config as the stage's config, its
 * history and layers; and a stack of layers as a tree (layers applied with whiteouts), which a
 * stage makes only when a step needs it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, type BlobStore } from '../cache/index.js';
import { layerCompression, parseTag, readImageArchive, sha256, type HistoryEntry, type ImageConfig, type Layer, type Platform } from '../image/index.js';
import { applyTar, StageFs, type FsNode, type UnpackLimits } from '../tree/index.js';
import { DEFAULT_PATH, type StageConfig } from './metadata.js';

export interface BaseImage {
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

/** A base image from an archive file (docker save or OCI). */
export async function loadBaseImage(path: string, opts: { readonly store: BlobStore; readonly platform: Platform }): Promise<BaseImage> {
  return baseFromImage(await readImageArchive(path, opts.store, opts.platform));
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
  return { cfg, history: image.config.history ?? [], layers: image.layers };
}

/**
 * `base` (a tree that will not be changed: it is cloned first) with `layer` applied on top, file
 * bodies kept under `extractDir/<diffID hex>/`. What the layer did to that base (each path it
 * wrote or removed, as it is after) is kept beside the bodies, by the whole chain below
 * (`chain`), so that the next build replays it instead of unpacking the layer again; deleting the
 * extract folder deletes both.
 */
export async function treeWithLayer(
  base: StageFs | undefined, layer: Layer, chain: string,
  opts: { readonly store: BlobStore; readonly extractDir: string; readonly limits: UnpackLimits },
): Promise<StageFs> {
  const fs = base === undefined ? new StageFs() : base.clone();
  const contentDir = join(opts.extractDir, layer.diffId.slice(7));
  const index = join(contentDir, `.tree-${sha256(chain).slice(7, 39)}.json`);
  const saved = await readTreeDelta(index);
  // a saved delta names only bodies of this layer (anything else is not keel's: unpack again)
  if (saved !== undefined && saved.every(([, n]) => n === null || n.type !== 'file' || (n.source.kind === 'host' && n.source.path.startsWith(`${contentDir}/`)))) {
    for (const [path, node] of saved) {
      if (node === null) fs.delete(path);
      else fs.set(path, node);
    }
    return fs;
  }
  const written = await applyTar(fs, await opts.store.open(layer.digest), layerCompression(layer.mediaType), {
    dest: '', contentDir, whiteouts: true, createdMtime: 0, limits: opts.limits,
  });
  const delta = written.map((path): [string, FsNode | null] => [path, fs.get(path) ?? null]);
  // only bodies on disk can be named again (a layer gives no other kind)
  if (delta.every(([, n]) => n === null || n.type !== 'file' || n.source.kind === 'host')) await writeFileAtomic(index, JSON.stringify({ version: 1, delta }));
  return fs;
}

/** A saved delta, or undefined when there is none (or it is torn, or from another version). */
async function readTreeDelta(path: string): Promise<Array<[string, FsNode | null]> | undefined> {
  try {
    const data = JSON.parse(await readFile(path, 'utf8')) as { version?: unknown; delta?: unknown };
    if (data.version !== 1 || !Array.isArray(data.delta)) return undefined;
    return data.delta as Array<[string, FsNode | null]>;
  } catch {
    return undefined;
  }
}
