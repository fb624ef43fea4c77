/**
 * The instruction cache (SPEC.md section 6): cache key -> the layer an instruction made, in
 * `<cacheDir>/steps/<hex>.json`, written atomically. A hit is used only when its blob is still in
 * the store with the recorded size, so a pruned or damaged blob store can never make a build use a
 * layer it does not have. Each step's last recipe is also kept (by step identity) so that a miss
 * can say what changed. Knows nothing of Dockerfiles: keys and recipes are opaque JSON here.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type BlobReader, type Digest } from '../image/index.js';
import { writeFileAtomic } from './atomic.js';

export interface CachedLayer {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly diffId: Digest;
  readonly size: number;
}

/** The cached result of a step: its layer, or none (an instruction that changed nothing). */
export interface StepRecord {
  readonly layer: CachedLayer | null;
}

const hex = (s: string): string => createHash('sha256').update(s).digest('hex');

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    return undefined; // missing, or torn by a crash before rename could not happen, or corrupt: a miss
  }
}

function isRecord(v: unknown): v is StepRecord {
  if (typeof v !== 'object' || v === null || !('layer' in v)) return false;
  const layer = (v as { layer: unknown }).layer;
  if (layer === null) return true;
  if (typeof layer !== 'object') return false;
  const l = layer as Record<string, unknown>;
  return typeof l.mediaType === 'string' && typeof l.digest === 'string' && isDigest(l.digest) &&
    typeof l.diffId === 'string' && isDigest(l.diffId) && typeof l.size === 'number';
}

/** The step cache as one stage's steps use it (what they find and store is that stage's, for exports). */
export interface StepCacheView {
  get(key: Digest): Promise<StepRecord | undefined>;
  put(key: Digest, record: StepRecord): Promise<void>;
  lastRecipe(stepId: string): Promise<unknown>;
  saveRecipe(stepId: string, recipe: unknown): Promise<void>;
}

/** A blob reader that also knows blobs it can fetch when read (imported caches'), by size. */
export interface BlobsKnown extends BlobReader {
  available(digest: Digest): Promise<number | undefined>;
}

export class StepCache {
  private readonly steps: string;
  private readonly recipes: string;
  /** Steps of imported caches (cacheFrom), by key: hits when the local cache has none. */
  private readonly imported = new Map<Digest, StepRecord>();
  /** Every key this build found or stored, with its record and the stage that did: what a cache export holds. */
  readonly used = new Map<Digest, { readonly record: StepRecord; readonly stage: number | undefined }>();

  /** `onMiss`: told at each lookup that finds nothing (a build starts work it may soon need then). */
  constructor(root: string, private readonly blobs: BlobsKnown, private readonly onMiss?: () => void) {
    this.steps = join(root, 'steps');
    this.recipes = join(root, 'recipes');
  }

  /** Steps another machine's cache holds (their layers' blobs known to the blob reader, fetched when read). */
  addImported(entries: Iterable<{ readonly key: Digest; readonly record: StepRecord }>): void {
    for (const e of entries) if (!this.imported.has(e.key)) this.imported.set(e.key, e.record);
  }

  async get(key: Digest, stage?: number): Promise<StepRecord | undefined> {
    const v = await readJson(join(this.steps, `${key.slice(7)}.json`));
    let found: StepRecord | undefined;
    if (isRecord(v) && (v.layer === null || (await this.blobs.stat(v.layer.digest)) === v.layer.size)) found = v;
    else {
      const far = this.imported.get(key);
      if (far !== undefined && (far.layer === null || (await this.blobs.available(far.layer.digest)) === far.layer.size)) found = far;
    }
    if (found !== undefined) this.used.set(key, { record: found, stage });
    else this.onMiss?.();
    return found;
  }

  async put(key: Digest, record: StepRecord, stage?: number): Promise<void> {
    await mkdir(this.steps, { recursive: true });
    await writeFileAtomic(join(this.steps, `${key.slice(7)}.json`), JSON.stringify(record));
    this.used.set(key, { record, stage });
  }

  /** This cache as stage `stage`'s steps use it. */
  forStage(stage: number): StepCacheView {
    return {
      get: (key) => this.get(key, stage),
      put: (key, record) => this.put(key, record, stage),
      lastRecipe: (id) => this.lastRecipe(id),
      saveRecipe: (id, recipe) => this.saveRecipe(id, recipe),
    };
  }

  /** The recipe this step had in the last build (for explaining a miss). */
  async lastRecipe(stepId: string): Promise<unknown> {
    return readJson(join(this.recipes, `${hex(stepId)}.json`));
  }

  async saveRecipe(stepId: string, recipe: unknown): Promise<void> {
    await mkdir(this.recipes, { recursive: true });
    await writeFileAtomic(join(this.recipes, `${hex(stepId)}.json`), JSON.stringify(recipe));
  }
}
