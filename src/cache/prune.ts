/**
 * Garbage collection of a cache folder (BuildKit's prune, keel's units): leftovers go; then
 * every unit (`all`), or the least recently used until the rest fit in `keepBytes`, each limited to
 * units last used before `usedBefore` when that is given. Step records whose layer blob is gone are
 * removed after (they would only miss). The caller holds the collection mark (leases.ts): nothing
 * here is in use by a build.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, hexOf } from '../image/index.js';
import { cacheUnits, companions, type CacheUnit } from './usage.js';

export interface PrunePolicy {
  /** Remove every unit. */
  readonly all?: boolean;
  /** Remove the least recently used until the units left take at most this many bytes. */
  readonly keepBytes?: number;
  /** Remove only units last used before this time (ms since the epoch); alone, every such unit. */
  readonly usedBefore?: number;
}

export interface PruneResult {
  readonly removed: readonly CacheUnit[];
  /** Bytes the removed units took. */
  readonly freed: number;
  /** Bytes the units left take. */
  readonly kept: number;
}

/** Which units a policy removes, least recently used first (pure: for `prune` and for its tests). */
export function choose(units: readonly CacheUnit[], policy: PrunePolicy): CacheUnit[] {
  const old = (u: CacheUnit): boolean => policy.usedBefore === undefined || u.lastUsed < policy.usedBefore;
  const chosen = units.filter((u) => u.kind === 'leftover' && old(u));
  const rest = units.filter((u) => u.kind !== 'leftover').sort((a, b) => a.lastUsed - b.lastUsed || a.path.localeCompare(b.path));
  if (policy.all === true) return [...chosen, ...rest.filter(old)];
  if (policy.keepBytes !== undefined) {
    let total = rest.reduce((n, u) => n + u.size, 0);
    for (const u of rest) {
      if (total <= policy.keepBytes) break;
      if (!old(u)) continue;
      chosen.push(u);
      total -= u.size;
    }
    return chosen;
  }
  if (policy.usedBefore !== undefined) return [...chosen, ...rest.filter(old)];
  return chosen;
}

/** Step records whose layer's blob is gone: they could only miss. */
async function removeDanglingRecords(root: string): Promise<void> {
  const dir = join(root, 'steps');
  const blobs = new Set(await readdir(join(root, 'blobs', 'sha256')).catch(() => [] as string[]));
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const record = await readFile(join(dir, name), 'utf8').then((t) => JSON.parse(t) as { layer?: { digest?: unknown } | null }, () => undefined);
    const digest = record?.layer?.digest;
    const dangling = record === undefined || (record.layer !== null && (typeof digest !== 'string' || !isDigest(digest) || !blobs.has(hexOf(digest))));
    if (dangling) await rm(join(dir, name), { force: true });
  }
}

/** How often at most builds collect (BuildKit throttles its collections too): each one measures the cache. */
const COLLECT_EVERY_MS = 60_000;
const lastCollection = (root: string): string => join(root, 'gc-last');

/** Whether a build's collection is due: none in the last minute. */
export async function collectionDue(root: string, now: number = Date.now()): Promise<boolean> {
  const last = (await stat(lastCollection(root)).catch(() => undefined))?.mtimeMs ?? 0;
  return now - last >= COLLECT_EVERY_MS;
}

/** Note that a collection runs now (collectionDue's clock). */
export const noteCollection = (root: string): Promise<void> => writeFile(lastCollection(root), '');

export async function pruneCache(root: string, policy: PrunePolicy): Promise<PruneResult> {
  const units = await cacheUnits(root);
  const removed = choose(units, policy);
  for (const u of removed) {
    // a folder is renamed out of its name first (one step), then deleted: a collection cut short
    // leaves a leftover, never a half-deleted layer folder under its diffID; and the folder goes
    // before its marks (a layer folder without its opaque-root mark must never be seen)
    const path = join(root, u.path);
    const away = u.kind === 'leftover' || u.kind === 'blob' ? path : `${path}.${randomBytes(6).toString('hex')}.tmp`;
    if (away !== path) await rename(path, away).catch(() => undefined);
    await rm(away, { recursive: true, force: true });
    for (const c of companions(u.path)) await rm(join(root, c), { force: true });
  }
  if (removed.some((u) => u.kind === 'blob')) await removeDanglingRecords(root);
  const freed = removed.reduce((n, u) => n + u.size, 0);
  return { removed, freed, kept: units.reduce((n, u) => n + u.size, 0) - freed };
}
