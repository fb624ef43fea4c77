/**
 * keel's step cache as an OCI artifact, for a cache shared through a registry or an OCI layout
 * folder (`cacheTo` / `cacheFrom`). An OCI image manifest with
 * - `artifactType` `application/vnd.keel.cache.v1` and a config blob of media type
 *   `application/vnd.keel.cache.config.v1+json`: `{"version":1,"records":[{"key":"sha256:…","layer":0|null}]}`,
 *   each record a step key and the index of its layer in the manifest (null: a step that changed nothing);
 * - `layers`: the step layers, the image's own blobs (so a cache exported after a push uploads
 *   nothing twice), each with its diffID in the annotation `io.keel.cache.diffid`.
 *
 * Not BuildKit's cache (`application/vnd.buildkit.cacheconfig.v0`): BuildKit keys a step by the
 * digests of its LLB vertices and their inputs' cache keys, which keel, having no LLB, cannot
 * compute; keel's keys are sha256 over canonical JSON of what a step reads (SPEC.md section 6).
 */
import { KeelError } from '../errors.js';
import { isDigest, MEDIA_TYPES, sha256, type Digest } from '../image/index.js';
import type { CachedLayer, StepRecord } from './step-cache.js';

export const CACHE_ARTIFACT_TYPE = 'application/vnd.keel.cache.v1';
export const CACHE_CONFIG_TYPE = 'application/vnd.keel.cache.config.v1+json';
const DIFFID_ANNOTATION = 'io.keel.cache.diffid';

export interface CacheEntry {
  readonly key: Digest;
  readonly record: StepRecord;
}

export interface EncodedCache {
  readonly config: Buffer;
  readonly manifest: Buffer;
  readonly manifestDigest: Digest;
  /** The blobs the manifest names, config aside. */
  readonly layers: readonly CachedLayer[];
}

/** The artifact for `entries` (in key order, layers in first-use order: the same entries give the same bytes). */
export function encodeCache(entries: readonly CacheEntry[]): EncodedCache {
  const layers: CachedLayer[] = [];
  const index = new Map<Digest, number>();
  const records = [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((e) => {
    const l = e.record.layer;
    if (l === null) return { key: e.key, layer: null };
    let i = index.get(l.digest);
    if (i === undefined) {
      i = layers.length;
      index.set(l.digest, i);
      layers.push(l);
    }
    return { key: e.key, layer: i };
  });
  const config = Buffer.from(JSON.stringify({ version: 1, records }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: { mediaType: CACHE_CONFIG_TYPE, digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, annotations: { [DIFFID_ANNOTATION]: l.diffId } })),
  }));
  return { config, manifest, manifestDigest: sha256(manifest), layers };
}

const foreign = (why: string): never => {
  throw new KeelError('E_BUILD_INPUT', `not a keel cache: ${why}`);
};

/** The config blob a cache manifest names; E_BUILD_INPUT when the manifest is not a keel cache's. */
export function cacheConfigOf(manifestBytes: Buffer): { digest: Digest; size: number } {
  let m: { config?: { mediaType?: unknown; digest?: unknown; size?: unknown } };
  try {
    m = JSON.parse(manifestBytes.toString('utf8')) as typeof m;
  } catch {
    return foreign('the manifest is not JSON');
  }
  const c = m.config;
  if (c?.mediaType !== CACHE_CONFIG_TYPE) return foreign(`its config is ${JSON.stringify(c?.mediaType ?? null)}`);
  if (typeof c.digest !== 'string' || !isDigest(c.digest) || typeof c.size !== 'number' || c.size < 0 || c.size > 64 << 20) return foreign('its config descriptor is not valid');
  return { digest: c.digest, size: c.size };
}

/** The step records of a cache artifact, every field checked (a damaged or foreign one is E_BUILD_INPUT). */
export function decodeCache(manifestBytes: Buffer, configBytes: Buffer): CacheEntry[] {
  const m = JSON.parse(manifestBytes.toString('utf8')) as { layers?: Array<{ mediaType?: unknown; digest?: unknown; size?: unknown; annotations?: Record<string, unknown> }> };
  if (sha256(configBytes) !== cacheConfigOf(manifestBytes).digest) foreign('its config does not match its digest');
  const layers = (m.layers ?? []).map((l): CachedLayer => {
    const diffId = l.annotations?.[DIFFID_ANNOTATION];
    const known = [MEDIA_TYPES.layer, MEDIA_TYPES.layerGzip, MEDIA_TYPES.layerZstd] as readonly unknown[];
    if (!known.includes(l.mediaType) || typeof l.digest !== 'string' || !isDigest(l.digest) || typeof diffId !== 'string' || !isDigest(diffId)
      || typeof l.size !== 'number' || !Number.isSafeInteger(l.size) || l.size < 0) {
      return foreign('a layer descriptor is not valid');
    }
    return { mediaType: l.mediaType as string, digest: l.digest, diffId, size: l.size };
  });
  let config: { version?: unknown; records?: unknown };
  try {
    config = JSON.parse(configBytes.toString('utf8')) as typeof config;
  } catch {
    return foreign('its config is not JSON');
  }
  if (config.version !== 1 || !Array.isArray(config.records)) foreign('its config is not version 1');
  return (config.records as unknown[]).map((r): CacheEntry => {
    const { key, layer } = (r ?? {}) as { key?: unknown; layer?: unknown };
    if (typeof key !== 'string' || !isDigest(key)) return foreign('a record has no key');
    if (layer === null) return { key, record: { layer: null } };
    if (typeof layer !== 'number' || layers[layer] === undefined) return foreign('a record names a layer the manifest does not have');
    return { key, record: { layer: layers[layer] as CachedLayer } };
  });
}
