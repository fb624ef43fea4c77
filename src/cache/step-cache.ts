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

export class StepCache {
  private readonly steps: string;
  private readonly recipes: string;

  constructor(root: string, private readonly blobs: BlobReader) {
    this.steps = join(root, 'steps');
    this.recipes = join(root, 'recipes');
  }

  async get(key: Digest): Promise<StepRecord | undefined> {
    const v = await readJson(join(this.steps, `${key.slice(7)}.json`));
    if (!isRecord(v)) return undefined;
    if (v.layer !== null && (await this.blobs.stat(v.layer.digest)) !== v.layer.size) return undefined;
    return v;
  }

  async put(key: Digest, record: StepRecord): Promise<void> {
    await mkdir(this.steps, { recursive: true });
    await writeFileAtomic(join(this.steps, `${key.slice(7)}.json`), JSON.stringify(record));
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
