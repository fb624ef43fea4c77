/**
 * Cache keys for layer-making steps. A COPY, ADD or WORKDIR layer is a pure function of the entries
 * it writes (path, type, mode, owner, mtime as written, size, link target, content hash) and of the
 * compression, so that list is its recipe, and the key is sha256 over the recipe's canonical JSON
 * (node:crypto, never ohash's object hashing: SPEC.md section 6). Because the recipe captures the
 * layer exactly, the key needs no parent: a step whose inputs did not change hits even after an
 * earlier step missed. (RUN keys its command with the parent layer chain instead: steps/run.ts.)
 */
import { canonicalJson, sha256, type Digest } from '../image/index.js';

/** [path, type, mode, uid, gid, mtime, size, link target (a device's kind:major:minor), content sha256, and the extended attributes' canonical JSON where there are some] */
export type RecipeEntry = readonly [string, string, number, number, number, number, number, string, string] | readonly [string, string, number, number, number, number, number, string, string, string];

export interface Recipe {
  readonly version: 1;
  /** The instruction as it ran (expanded), for explaining misses; it does not change the layer. */
  readonly instruction: string;
  readonly compression: string;
  readonly entries: readonly RecipeEntry[];
}

export function cacheKey(recipe: Recipe): Digest {
  return sha256(canonicalJson({ version: recipe.version, compression: recipe.compression, entries: recipe.entries }));
}

function isRecipe(v: unknown): v is Recipe {
  return typeof v === 'object' && v !== null && (v as Recipe).version === 1 && Array.isArray((v as Recipe).entries);
}

/** Why this step's key differs from the one it had last time, in a few words for progress output. */
export function explainMiss(previous: unknown, now: Recipe): string {
  if (!isRecipe(previous)) return 'not built before';
  if (previous.compression !== now.compression) return `compression changed to ${now.compression}`;
  const before = new Map(previous.entries.map((e) => [e[0], e]));
  const after = new Map(now.entries.map((e) => [e[0], e]));
  const changed: string[] = [];
  for (const [path, e] of after) {
    const old = before.get(path);
    if (old === undefined) changed.push(`${path} added`);
    else if (old[8] !== e[8] || old[6] !== e[6]) changed.push(`${path} changed`);
    else if (JSON.stringify(old) !== JSON.stringify(e)) changed.push(`${path} metadata changed`);
  }
  for (const path of before.keys()) if (!after.has(path)) changed.push(`${path} removed`);
  if (changed.length === 0) return previous.instruction !== now.instruction ? 'the instruction changed' : 'the cached layer is gone';
  return changed.length === 1 ? (changed[0] as string) : `${changed[0] as string} (and ${changed.length - 1} more)`;
}
