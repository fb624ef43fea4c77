/**
 * build()'s options checked before any work (a bad tag, output, ref, level or size is found in
 * milliseconds, not after the build), and what they come to: the platforms, the cache folder,
 * the time policy, the outputs and caches as lists, the limits.
 */
import { resolve as resolvePath } from 'node:path';
import { defaultCacheDir } from '../cache/index.js';
import { KeelError } from '../errors.js';
import { hostPlatform, parsePlatforms, parseReference, parseTag, type Platform } from '../image/index.js';
import { DEFAULT_UNPACK_LIMITS, type UnpackLimits } from '../tree/index.js';
import { ENTITLEMENTS, isEntitlement } from './entitlements.js';
import type { Host } from './host.js';
import type { BuildOptions, BuildOutput, CacheExport, CacheImport } from './options.js';
import { checkOutputs } from './outputs.js';
import { timestamps, type Timestamps } from './timestamps.js';
import { cacheAdmin } from './lazy-modules.js';

export interface CheckedOptions {
  /** The machine's platform (BUILDPLATFORM). */
  readonly buildPlatform: Platform;
  readonly platforms: readonly Platform[];
  /** Absolute: mount(8) runs in the layers folder. */
  readonly cacheDir: string;
  readonly times: Timestamps;
  readonly outputs: readonly BuildOutput[];
  readonly cacheTo: readonly CacheExport[];
  readonly cacheFrom: readonly CacheImport[];
  readonly maxParallelism: number;
  readonly limits: UnpackLimits;
  /** The cache's budget: false none, undefined the default. */
  readonly cacheMaxSize: number | false | undefined;
}

export async function checkedOptions(opts: BuildOptions, host: Host): Promise<CheckedOptions> {
  const buildPlatform = hostPlatform(host.arch);
  const platforms = targetPlatforms(opts, buildPlatform);
  const cacheDir = resolvePath(opts.cacheDir ?? defaultCacheDir(host.env)); // absolute: mount(8) runs in the layers folder
  const sde = opts.sourceDateEpoch ?? (opts.buildArgs?.SOURCE_DATE_EPOCH === undefined ? undefined : Number(opts.buildArgs.SOURCE_DATE_EPOCH));
  const times = timestamps(opts.timestamps ?? 'normalize', sde);
  for (const t of opts.tags ?? []) parseTag(t); // refuse a bad tag before doing any work
  const outputs = listOf(opts.output);
  const cacheTo = listOf(opts.cacheTo);
  const cacheFrom = listOf(opts.cacheFrom);
  for (const c of [...cacheTo, ...cacheFrom]) if (c.type === 'registry') parseReference(c.ref); // a bad ref before any work
  await checkOutputs(outputs, opts.tags ?? []);
  const maxParallelism = opts.maxParallelism ?? Number.POSITIVE_INFINITY;
  if (opts.maxParallelism !== undefined && (!Number.isInteger(maxParallelism) || maxParallelism < 1)) {
    throw new KeelError('E_BUILD_INPUT', `maxParallelism must be a whole number of at least 1, not ${maxParallelism}`);
  }

  checkCompressionLevel(opts.compression ?? 'gzip', opts.compressionLevel);
  for (const a of opts.allow ?? []) if (!isEntitlement(a)) throw new KeelError('E_BUILD_INPUT', `allow: unknown entitlement ${JSON.stringify(a)} (${ENTITLEMENTS.join(', ')})`);
  if (opts.network !== undefined && !['default', 'host', 'none'].includes(opts.network)) throw new KeelError('E_BUILD_INPUT', `network must be default, host or none, not ${JSON.stringify(opts.network)}`);
  if (opts.maxUnpackBytes !== undefined && (!Number.isSafeInteger(opts.maxUnpackBytes) || opts.maxUnpackBytes < 1)) {
    throw new KeelError('E_BUILD_INPUT', `maxUnpackBytes must be a whole number of bytes, not ${opts.maxUnpackBytes}`);
  }
  const limits: UnpackLimits = { maxBytes: opts.maxUnpackBytes ?? DEFAULT_UNPACK_LIMITS.maxBytes };
  return { buildPlatform, platforms, cacheDir, times, outputs, cacheTo, cacheFrom, maxParallelism, limits, cacheMaxSize: cacheBudgetAsked(opts, host) };
}

/** The cache budget asked for (the option, else KEEL_CACHE_MAX_SIZE), checked before the build; undefined: the default. */
function cacheBudgetAsked(opts: BuildOptions, host: Host): number | false | undefined {
  if (opts.cacheMaxSize !== undefined) {
    if (opts.cacheMaxSize !== false && !(Number.isSafeInteger(opts.cacheMaxSize) && opts.cacheMaxSize >= 0)) {
      throw new KeelError('E_BUILD_INPUT', `cacheMaxSize must be a whole number of bytes (or false), not ${opts.cacheMaxSize}`);
    }
    return opts.cacheMaxSize;
  }
  const env = host.env.KEEL_CACHE_MAX_SIZE;
  if (env === undefined || env === '') return undefined;
  try {
    return cacheAdmin().parseSize(env);
  } catch {
    throw new KeelError('E_BUILD_INPUT', `KEEL_CACHE_MAX_SIZE is not a size: ${JSON.stringify(env)} (want e.g. 20GB)`);
  }
}

/** The platforms to build for: `platforms`, or `platform` (one, or a comma list as --platform takes), else the host's. */
function targetPlatforms(opts: BuildOptions, host: Platform): Platform[] {
  if (opts.platforms !== undefined && opts.platform !== undefined) throw new KeelError('E_BUILD_INPUT', 'give platform or platforms, not both');
  const given = opts.platforms ?? (opts.platform === undefined ? undefined : [opts.platform]);
  return given === undefined ? [host] : parsePlatforms(given, host);
}

/** One or several, as a list. */
const listOf = <T>(x: T | readonly T[] | undefined): readonly T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x as T]);

/** A level the compression has: gzip 0-9, zstd 1-22, none no level at all. */
function checkCompressionLevel(compression: NonNullable<BuildOptions['compression']>, level: number | undefined): void {
  if (level === undefined) return;
  const [low, high] = compression === 'gzip' ? [0, 9] : compression === 'zstd' ? [1, 22] : [NaN, NaN];
  if (!Number.isInteger(level) || !(level >= low && level <= high)) {
    throw new KeelError('E_BUILD_INPUT', compression === 'none' ? 'uncompressed layers take no compression level' : `a ${compression} level is a whole number from ${low} to ${high}, not ${level}`);
  }
}
