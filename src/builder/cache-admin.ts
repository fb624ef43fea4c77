/**
 * The cache as its owner sees it (`keel du`, `keel prune`, and the budget each build keeps): what
 * it holds, by kind, with sizes and last uses; removing what is not needed, least recently used
 * first; never while a build is using the cache (leases).
 */
import { stat, statfs } from 'node:fs/promises';
import { resolve } from 'node:path';
import { cacheUnits, defaultCacheDir, noteCollection, pruneCache, startCollection, type CacheUnit, type PruneResult, type UnitKind } from '../cache/index.js';
import { KeelError } from '../errors.js';
import { readHost, type Host } from './host.js';

export type { CacheUnit, UnitKind };

export interface CacheUsage {
  readonly cacheDir: string;
  readonly units: readonly CacheUnit[];
  /** Bytes, by kind. */
  readonly byKind: Readonly<Record<UnitKind, { readonly count: number; readonly size: number }>>;
  readonly total: number;
}

const KINDS: readonly UnitKind[] = ['blob', 'layer folder', 'extracted', 'cache mount', 'download', 'leftover'];

/** What the cache folder holds. @param opts.cacheDir default as build()'s */
export function diskUsage(opts: { readonly cacheDir?: string } = {}): Promise<CacheUsage> {
  return diskUsageOn(readHost(), opts);
}

export async function diskUsageOn(host: Host, opts: { readonly cacheDir?: string }): Promise<CacheUsage> {
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir(host.env));
  if ((await stat(cacheDir).catch(() => undefined))?.isDirectory() !== true) throw new KeelError('E_CACHE', `the cache folder ${cacheDir} does not exist`);
  const units = await cacheUnits(cacheDir);
  const byKind = Object.fromEntries(KINDS.map((k) => [k, { count: 0, size: 0 }])) as Record<UnitKind, { count: number; size: number }>;
  for (const u of units) {
    byKind[u.kind].count++;
    byKind[u.kind].size += u.size;
  }
  return { cacheDir, units, byKind, total: units.reduce((n, u) => n + u.size, 0) };
}

export interface PruneOptions {
  readonly cacheDir?: string;
  /** Remove everything (but what builds running now use: nothing is removed while one runs). */
  readonly all?: boolean;
  /** Keep at most this many bytes, removing the least recently used first. */
  readonly keepBytes?: number;
  /** Remove only what was last used longer ago than this many milliseconds. */
  readonly olderThanMs?: number;
}

/**
 * Remove from the cache what the options say (with none: leftovers only, such as the trash and
 * abandoned temporary folders). E_CACHE while builds use the cache: nothing is removed then.
 */
export function prune(opts: PruneOptions = {}): Promise<PruneResult> {
  return pruneOn(readHost(), opts);
}

export async function pruneOn(host: Host, opts: PruneOptions): Promise<PruneResult> {
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir(host.env));
  if ((await stat(cacheDir).catch(() => undefined))?.isDirectory() !== true) throw new KeelError('E_CACHE', `the cache folder ${cacheDir} does not exist`);
  const collection = await startCollection(cacheDir, host.pid);
  if ('busy' in collection) throw new KeelError('E_CACHE', `${collection.busy} build(s) are using the cache folder ${cacheDir}: nothing was removed; prune when they end`);
  try {
    return await pruneCache(cacheDir, {
      ...(opts.all === true ? { all: true } : {}),
      ...(opts.keepBytes === undefined ? {} : { keepBytes: opts.keepBytes }),
      ...(opts.olderThanMs === undefined ? {} : { usedBefore: Date.now() - opts.olderThanMs }),
    });
  } finally {
    await collection.done();
  }
}

/** BuildKit's default budget: 10% of the file system the cache is on, at least 2 GB. */
export async function defaultCacheBudget(cacheDir: string): Promise<number> {
  const fs = await statfs(cacheDir).catch(() => undefined);
  const tenth = fs === undefined ? 0 : Math.floor((fs.blocks * fs.bsize) / 10);
  return Math.max(tenth, 2e9);
}

/** `10GB`, `512m`, `2GiB`, `2000000` as bytes, in binary units, as docker's --keep-storage reads them (go-units RAMInBytes). */
export function parseSize(text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text);
  if (m === null) throw new KeelError('E_USAGE', `not a size: ${JSON.stringify(text)} (want e.g. 512MB, 10GB)`);
  const power = ' kmgtp'.indexOf((m[2] ?? '').toLowerCase() || ' ');
  return Math.round(Number(m[1]) * 1024 ** power);
}

/**
 * At the end of a build whose collection is due (cache/prune.ts collectionDue): remove the least
 * recently used until the cache is within `budget` bytes, unless another build is using the cache.
 */
export async function keepCacheBudget(cacheDir: string, pid: number, ownLease: string, budget: number, startedAt: number): Promise<PruneResult | undefined> {
  const collection = await startCollection(cacheDir, pid, ownLease);
  if ('busy' in collection) return undefined;
  try {
    await noteCollection(cacheDir);
    // only what was last used before this build began: what it used is marked newer, and what it
    // may still be finishing in the background (an abandoned extraction) is left for the next one
    return await pruneCache(cacheDir, { keepBytes: budget, usedBefore: startedAt });
  } finally {
    await collection.done();
  }
}
