/**
 * What a layer did to the tree below it, kept so that a later build replays it instead of
 * unpacking the layer again: each path it wrote or removed, as it is after. A delta is kept by the
 * whole chain below the layer (the same layer can land differently on another chain: a parent
 * through a symlink, an implicit folder's metadata), beside the layer's extracted bodies in
 * `<extractDir>/<diffID hex>/.tree-<chain>.json`; deleting that folder deletes both.
 *
 * Two writers: applying the layer's tar to the tree below (treeWithLayer), and a RUN, whose
 * layer folder holds the bodies already (saveRunDelta): the first step after a big RUN then
 * needs no second copy of what the RUN wrote.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic, type BlobStore } from '../cache/index.js';
import { layerCompression, sha256, type Layer } from '../image/index.js';
import { syncFileSystem } from '../runtime/index.js';
import { applyTar, readSavedTree, serializeTree, StageFs, type FsNode, type UnpackLimits } from '../tree/index.js';

/**
 * A saved delta. `bodies`: the folder every file body it names is in (the layer's extract folder,
 * or its layer folder). `trees`: a removed path takes what is below it too (a RUN's delta names a
 * removed folder once; an applied tar's names every path below it).
 */
interface SavedDelta {
  readonly version: 2;
  readonly bodies: string;
  readonly trees: boolean;
  readonly delta: ReadonlyArray<readonly [string, FsNode | null]>;
}

export interface DeltaOptions {
  readonly store: BlobStore;
  readonly extractDir: string;
  readonly limits: UnpackLimits;
}

const contentDirOf = (extractDir: string, layer: Pick<Layer, 'diffId'>): string => join(extractDir, layer.diffId.slice(7));
const deltaPath = (extractDir: string, layer: Pick<Layer, 'diffId'>, chain: string): string => join(contentDirOf(extractDir, layer), `.tree-${sha256(chain).slice(7, 39)}.json`);

/** The key of a layer chain (bottom first) for its delta. */
export const chainKey = (layers: ReadonlyArray<Pick<Layer, 'diffId'>>): string => layers.map((l) => l.diffId).join(',');

/** A layer chain's tree, and the folders its file bodies are in. */
export interface ChainTree {
  readonly fs: StageFs;
  readonly bodies: readonly string[];
}

/**
 * A chain whose top layer changes this many paths or more gets its whole tree saved (snapshot.ts),
 * read back lazily by the next build: a base image or a big RUN, not a COPY of a few files.
 */
const SAVE_TREE_FROM = 1000;

const savedTreePath = (extractDir: string, layer: Pick<Layer, 'diffId'>, chain: string): string => join(contentDirOf(extractDir, layer), `.snapshot-${sha256(chain).slice(7, 39)}`);

/** The chain's tree as saved whole by an earlier build (for chains topped by a big layer), or undefined. */
export async function savedChainTree(layer: Layer, chain: string, opts: Pick<DeltaOptions, 'extractDir'>): Promise<ChainTree | undefined> {
  return readSavedTree(savedTreePath(opts.extractDir, layer, chain));
}

/**
 * The tree of `below` (which will not be changed: it is cloned first) with `layer` applied on top,
 * `chain` being the key of the stack it tops: from a saved delta, else by unpacking the layer (its
 * bodies under the extract folder) and saving the delta. A big layer's chain is saved whole too.
 */
export async function treeWithLayer(below: ChainTree | undefined, layer: Layer, chain: string, opts: DeltaOptions): Promise<ChainTree> {
  const fs = below === undefined ? new StageFs() : below.fs.clone();
  const contentDir = contentDirOf(opts.extractDir, layer);
  const saved = await readDelta(deltaPath(opts.extractDir, layer, chain), [contentDir, layer.diffId.slice(7)]);
  let bodies: string;
  let changed: number;
  if (saved !== undefined) {
    for (const [path, node] of saved.delta) {
      if (node !== null) fs.set(path, node);
      else if (saved.trees) fs.deleteTree(path);
      else fs.delete(path);
    }
    [bodies, changed] = [saved.bodies, saved.delta.length];
  } else {
    const written = await applyTar(fs, await opts.store.open(layer.digest), layerCompression(layer.mediaType), {
      dest: '', contentDir, whiteouts: true, createdMtime: 0, limits: opts.limits,
    });
    const delta = written.map((path): [string, FsNode | null] => [path, fs.get(path) ?? null]);
    // only bodies on disk can be named again (a layer gives no other kind)
    if (delta.every(([, n]) => n === null || n.type !== 'file' || n.source.kind === 'host')) {
      // the bodies flushed before the record that names them (a crash must not leave a delta whose
      // bodies are empty files of the right size)
      await syncFileSystem(contentDir);
      await saveDelta(deltaPath(opts.extractDir, layer, chain), { version: 2, bodies: contentDir, trees: false, delta });
    }
    [bodies, changed] = [contentDir, delta.length];
  }
  const tree: ChainTree = { fs, bodies: [...(below?.bodies ?? []), bodies] };
  if (changed >= SAVE_TREE_FROM) {
    const bytes = serializeTree(fs, tree.bodies);
    if (bytes !== undefined) await writeFileAtomic(savedTreePath(opts.extractDir, layer, chain), bytes);
  }
  return tree;
}

/**
 * A RUN's delta on the chain below it (`chain` includes its layer): each path it wrote (parents
 * included, bodies in the layer's folder `layerDir`) as it is after, and each it removed (null,
 * with what was below it).
 */
export async function saveRunDelta(extractDir: string, layer: Layer, chain: string, layerDir: string, delta: ReadonlyArray<readonly [string, FsNode | null]>): Promise<void> {
  await saveDelta(deltaPath(extractDir, layer, chain), { version: 2, bodies: layerDir, trees: true, delta });
}

async function saveDelta(path: string, delta: SavedDelta): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, JSON.stringify(delta));
}

/**
 * A saved delta, or undefined when there is none, it is torn or from another version, or it names
 * bodies anywhere but in `[contentDir, or a folder named <diffID hex>]` that still exists (a
 * layer folder can be pruned).
 */
async function readDelta(path: string, [contentDir, hex]: readonly [string, string]): Promise<SavedDelta | undefined> {
  let data: Partial<SavedDelta>;
  try {
    data = JSON.parse(await readFile(path, 'utf8')) as Partial<SavedDelta>;
  } catch {
    return undefined;
  }
  if (data.version !== 2 || !Array.isArray(data.delta) || typeof data.bodies !== 'string' || typeof data.trees !== 'boolean') return undefined;
  const bodies = data.bodies;
  if (bodies !== contentDir && !(bodies.endsWith(`/${hex}`) && (await stat(bodies).then((s) => s.isDirectory(), () => false)))) return undefined;
  const inside = `${bodies}/`;
  const ok = data.delta.every(([, n]) => n === null || n.type !== 'file' || (n.source.kind === 'host' && n.source.path.startsWith(inside)));
  return ok ? (data as SavedDelta) : undefined;
}
