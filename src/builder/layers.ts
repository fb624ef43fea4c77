/**
 * Layers from a stage's tree. A content layer (COPY, ADD, WORKDIR) is keyed by its recipe, the
 * entries it writes with their content hashes (cache-key.ts), and comes from the step cache when
 * a build made the same one before; a RUN layer is written straight away (its key is the
 * command's, and a recipe would only cost a second read of every file it made).
 */
import type { FileHasher } from '../cache/index.js';
import type { StepRecord } from '../cache/index.js';
import { canonicalJson, compareLayerPaths, layerDiffId, sha256, storeLayer, type ChainLayer, type Digest, type StoreLayerOptions, type Layer, type LayerEntry } from '../image/index.js';
import { openSource, parentOf, type FsNode, type StageFs } from '../tree/index.js';
import { cacheKey, explainMiss, timePolicy, type Recipe, type RecipeEntry } from './cache-key.js';
import type { StepContext, StepResult } from './step-context.js';

export interface LayerOutcome {
  /** None when the step changed nothing; pending while its blob is made (ContentLayerOptions.runFollows). */
  readonly layer?: ChainLayer;
  readonly cached: boolean;
  readonly reason?: string;
}

/**
 * How layers are compressed, as keys name it: `gzip`, `zstd`, `none`, with `:LEVEL` when a level
 * was asked for (so the keys of builds at the default level stay what they were).
 */
export const layerFormat = (ctx: Pick<StepContext, 'compression' | 'compressionLevel'>): string =>
  ctx.compressionLevel === undefined ? ctx.compression : `${ctx.compression}:${ctx.compressionLevel}`;

const storeOptions = (ctx: StepContext): StoreLayerOptions => ({
  compression: ctx.compression, signal: ctx.signal, ...(ctx.compressionLevel === undefined ? {} : { level: ctx.compressionLevel }),
});

export interface ContentLayerOptions {
  /**
   * A RUN of the stage comes after, which will stack this layer's folder: where it goes on
   * overlayfs, the folder is written from the tree beside the blob, and the blob is made while
   * the steps after this one run (the layer is returned pending).
   */
  readonly runFollows?: boolean;
  /** The step's input key (layers.ts inputKey), which the layer is recorded under too once stored. */
  readonly inputKey?: Digest;
}

/**
 * The layer of `paths` (and their parent folders) from `fs`: from the step cache, or written now
 * (with `runFollows`, its diffID and folder now and its blob beside the next steps).
 */
export async function contentLayer(ctx: StepContext, fs: StageFs, paths: readonly string[], instruction: string, opts: ContentLayerOptions = {}): Promise<LayerOutcome> {
  const recordUnder = async (layer: Layer | null): Promise<void> => {
    if (opts.inputKey !== undefined) await ctx.stepCache.put(opts.inputKey, { layer });
  };
  if (paths.length === 0) {
    await recordUnder(null);
    return { cached: false };
  }
  const entries = layerEntries(withParents(paths), fs);
  const recipe: Recipe = {
    version: 1,
    instruction,
    compression: layerFormat(ctx),
    entries: await Promise.all(entries.map((e) => recipeEntry(ctx.hasher, e, fs.get(e.path)))),
  };
  const key = cacheKey(recipe);
  const hit = ctx.noCache ? undefined : await ctx.stepCache.get(key);
  if (hit?.layer) {
    const layer: Layer = { ...hit.layer, mediaType: hit.layer.mediaType as Layer['mediaType'] };
    await recordUnder(layer);
    return { layer, cached: true };
  }
  const last = await ctx.stepCache.lastRecipe(ctx.stepId);
  const reason = ctx.noCache ? '--no-cache' : explainMiss(last, recipe);
  // the blob, and what is found by it once it is stored (the step cache records it by digest)
  const store = async (diffId?: Digest): Promise<Layer> => {
    const layer = await storeLayer(entries, ctx.blobs, { ...storeOptions(ctx), ...(diffId === undefined ? {} : { diffId }) });
    await ctx.verified.made(layer);
    await ctx.stepCache.put(key, { layer });
    await recordUnder(layer);
    await ctx.stepCache.saveRecipe(ctx.stepId, recipe); // what a later miss of this step is explained against
    return layer;
  };
  // the folder is written beside the tar (the kernel copies its files while this thread hashes)
  const folder = opts.runFollows === true ? await ctx.snapshots.folderFromEntries(ctx.stage.layers.length + 1, entries, fs).catch(() => undefined) : undefined;
  if (folder === undefined) return { layer: await store(), cached: false, reason };
  // a pass that only hashes the tar names the folder; gzip (most of the time) runs beside the RUN
  let diffId: Digest;
  try {
    diffId = await layerDiffId(entries, ctx.signal);
  } catch (e) {
    await folder.discard();
    throw e;
  }
  await folder.publish({ diffId }).catch(() => undefined); // the RUN extracts it then
  const stored = store(diffId);
  stored.catch(() => undefined); // awaited by the stage's end (solve.ts), which reports a failure
  return { layer: { diffId, stored }, cached: false, reason };
}

/**
 * A RUN's layer of `paths` from the tree of its changes; none when it changed nothing. Every
 * entry's time is normalised as the build's timestamps say (1980-01-01, or clamped to
 * SOURCE_DATE_EPOCH; kept with 'preserve'), as BuildKit's rewrite-timestamp does, so that a RUN
 * whose command writes the same bytes makes the same layer on any day.
 */
export async function changeLayer(ctx: StepContext, fs: StageFs, paths: readonly string[]): Promise<Layer | undefined> {
  if (paths.length === 0) return undefined;
  const entries = layerEntries(withParents(paths), fs).map((e): LayerEntry => (e.type === 'whiteout' ? e : { ...e, mtime: ctx.times.mtime(e.mtime) }));
  const layer = await storeLayer(entries, ctx.blobs, storeOptions(ctx));
  await ctx.verified.made(layer);
  return layer;
}

/** An entry as the recipe names it: metadata and, for a file, its content hash. */
export async function recipeEntry(hasher: FileHasher, entry: LayerEntry, node: FsNode | undefined): Promise<RecipeEntry> {
  if (entry.type === 'whiteout') return [entry.path, 'whiteout', 0, 0, 0, 0, 0, '', ''];
  const head = [entry.path, entry.type, entry.mode, entry.uid, entry.gid, entry.mtime] as const;
  // extended attributes only where there are some, so that the keys of entries without stay as they were
  const xattrs = entry.xattrs === undefined ? undefined : canonicalJson(entry.xattrs);
  const row = (size: number, link: string, hash: string): RecipeEntry => (xattrs === undefined ? [...head, size, link, hash] : [...head, size, link, hash, xattrs]);
  switch (entry.type) {
    case 'directory':
      return row(0, '', '');
    case 'symlink':
    case 'hardlink':
      return row(0, entry.target, '');
    case 'device':
      return row(0, `${entry.device}:${entry.major}:${entry.minor}`, '');
    case 'file': {
      const file = node as Extract<FsNode, { type: 'file' }>;
      const hash = file.source.kind === 'bytes' ? sha256(file.source.data).slice(7) : await hasher.hash(file.source.path, file.source.fingerprint, file.source.scratch !== true);
      return row(file.size, '', hash);
    }
  }
}

/** `paths` and every folder above them, sorted. */
export function withParents(paths: readonly string[]): string[] {
  const all = new Set<string>();
  for (const p of paths) for (let q = p; q !== '' && !all.has(q); q = parentOf(q)) all.add(q);
  return [...all].sort();
}

/**
 * The layer entries for `paths` (sorted) of a tree. Files that share a body (a hard-linked file in
 * the context, or a hard link in an extracted archive) are written once and then as hard links to
 * the first path, as containerd's ChangeWriter keeps hard links within a layer.
 */
export function layerEntries(paths: readonly string[], fs: StageFs): LayerEntry[] {
  // the first path of each body in the tar's order, which a link must come after (`a/b` is
  // written before `a.txt`): the others become links to it
  const body = (n: FsNode | undefined): string | undefined => (n?.type === 'file' && n.source.kind === 'host' ? n.source.fingerprint : undefined);
  const firstPathOf = new Map<string, string>();
  for (const path of [...paths].sort(compareLayerPaths)) {
    const id = body(fs.get(path));
    if (id !== undefined && !firstPathOf.has(id)) firstPathOf.set(id, path);
  }
  return paths.map((path): LayerEntry => {
    const node = fs.get(path);
    if (node === undefined) return { type: 'whiteout', path }; // deleted (by a RUN)
    const base = { path, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, ...(node.xattrs === undefined ? {} : { xattrs: node.xattrs }) };
    switch (node.type) {
      case 'directory':
        return { ...base, type: 'directory' };
      case 'symlink':
        return { ...base, type: 'symlink', target: node.target };
      case 'file': {
        const id = body(node);
        const first = id === undefined ? undefined : firstPathOf.get(id);
        if (first !== undefined && first !== path) return { ...base, type: 'hardlink', target: first };
        return { ...base, type: 'file', size: node.size, content: () => openSource(node.source, node.size) };
      }
      case 'device':
        return { ...base, type: 'device', device: node.device, major: node.major, minor: node.minor };
    }
  });
}

/**
 * A step's result from the step cache, found without the stage's tree: its layer (none for a step
 * that changed nothing). A tree a step made current is not brought up to date (a no-change build
 * of `FROM scratch` + `COPY .` would unpack its whole layer for nothing): it is dropped, and a
 * later step that needs a tree makes it from the layers (sources.ts, saved trees where there are).
 */
export async function cachedResult(ctx: StepContext, record: StepRecord): Promise<Pick<StepResult, 'layer' | 'treeStale' | 'cached'>> {
  if (record.layer === null) return { cached: true };
  const layer: Layer = { ...record.layer, mediaType: record.layer.mediaType as Layer['mediaType'] };
  return { layer, cached: true, ...(ctx.stage.tree === undefined ? {} : { treeStale: true as const }) };
}

/**
 * A key for a step from what it reads and the stage's chain key (BuildKit keys an op by its inputs'
 * keys: solver/llbsolver/ops/file.go), so that a hit needs no tree and no layer below it: the
 * parent's key fixes the tree exactly. Its layer is recorded under it beside the content recipe's
 * key, and it is the stage's chain key after the step.
 */
export function inputKey(ctx: StepContext, kind: string, inputs: unknown): Digest | undefined {
  // with preserved times a layer holds the clock's time: nothing to find again
  if (ctx.opts.timestamps === 'preserve') return undefined;
  return sha256(canonicalJson({
    kind, version: 2, parent: ctx.stage.key, inputs,
    // the time files get (1980, or SOURCE_DATE_EPOCH), and how layers are compressed
    epoch: timePolicy(ctx.times), compression: layerFormat(ctx),
  }));
}
