/**
 * A step cache shared between machines (BuildKit's `--cache-to` / `--cache-from`): exported after
 * a build to a registry (the team's own) or an OCI layout folder, as keel's cache artifact
 * (cache/cache-manifest.ts), and imported lazily: a build reads only the step list, and a layer's
 * blob is fetched when a later step or an output reads it (a chain of hits pushed to the same
 * registry fetches none). A cache that cannot be read or written is a warning, never the build's
 * failure: without it the build is slower, not wrong.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { cacheConfigOf, decodeCache, encodeCache, writeFileAtomic, type BlobStore, type CacheEntry, type StepCache } from '../cache/index.js';
import { hexOf, isDigest, MEDIA_TYPES, OCI_LAYOUT, parseReference, sha256, type Digest, type Layer, type Reference } from '../image/index.js';
import { RegistryClient, RegistryError, type RegistryOptions } from '../registry/index.js';
import type { VerifiedLayers } from './verified-layers.js';

/** Where a build's steps go (`--cache-to`): `mode` min, the final image's steps; max, every stage's. */
export type CacheExport =
  | { readonly type: 'registry'; readonly ref: string; readonly mode?: 'min' | 'max' }
  | { readonly type: 'local'; readonly dest: string; readonly mode?: 'min' | 'max' }
  /** In the image's own config (BuildKit's inline cache): the final image's steps, imported with cacheFrom the image. */
  | { readonly type: 'inline' };

/** Where steps come from (`--cache-from`). */
export type CacheImport = { readonly type: 'registry'; readonly ref: string } | { readonly type: 'local'; readonly src: string };

const describe = (c: CacheExport | CacheImport): string => (c.type === 'registry' ? c.ref : c.type === 'inline' ? 'the image' : 'dest' in c ? c.dest : c.src);

/** The image config key of an inline cache: `{ "records": [{ "key": …, "layer": <index in the image's layers> | null }] }`. */
export const INLINE_CACHE_KEY = 'io.keel.cache.v1';

/** The inline cache of an image of `layers`: the entries whose layer is one of them (or none). */
export function inlineCache(entries: readonly CacheEntry[], layers: readonly Pick<Layer, 'digest'>[]): { records: Array<{ key: Digest; layer: number | null }> } {
  const index = new Map(layers.map((l, i) => [l.digest, i]));
  const records: Array<{ key: Digest; layer: number | null }> = [];
  for (const e of [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if (e.record.layer === null) records.push({ key: e.key, layer: null });
    else if (index.has(e.record.layer.digest)) records.push({ key: e.key, layer: index.get(e.record.layer.digest) as number });
  }
  return { records };
}

/** The step entries of an image with an inline cache (its manifest's layers, its config's diffIDs). */
function fromInline(manifestBytes: Buffer, config: { rootfs?: { diff_ids?: unknown[] }; [INLINE_CACHE_KEY]?: { records?: unknown } }): CacheEntry[] {
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { layers?: Array<{ mediaType?: string; digest?: string; size?: number }> };
  const inline = config[INLINE_CACHE_KEY];
  if (inline === undefined || !Array.isArray(inline.records)) throw new Error('not a keel cache, and an image without an inline cache');
  const layers = manifest.layers ?? [];
  const diffIds = config.rootfs?.diff_ids ?? [];
  return (inline.records as unknown[]).map((r): CacheEntry => {
    const { key, layer } = (r ?? {}) as { key?: unknown; layer?: unknown };
    if (typeof key !== 'string' || !isDigest(key)) throw new Error('its inline cache has a record without a key');
    if (layer === null) return { key, record: { layer: null } };
    const d = typeof layer === 'number' ? layers[layer] : undefined;
    const diffId = typeof layer === 'number' ? diffIds[layer] : undefined;
    if (d?.digest === undefined || !isDigest(d.digest) || typeof d.size !== 'number' || typeof d.mediaType !== 'string' || typeof diffId !== 'string' || !isDigest(diffId)) {
      throw new Error('its inline cache names a layer the image does not have');
    }
    return { key, record: { layer: { mediaType: d.mediaType, digest: d.digest, diffId, size: d.size } } };
  });
}

export interface ImportDeps {
  readonly blobs: BlobStore;
  readonly stepCache: StepCache;
  readonly verified: VerifiedLayers;
  readonly registry: RegistryOptions;
}

/** Read each cache's step list into the step cache, its layers fetchable on demand; returns what to tell the user. */
export async function importCaches(from: readonly CacheImport[], deps: ImportDeps): Promise<string[]> {
  const notes: string[] = [];
  for (const c of from) {
    try {
      const entries = c.type === 'registry' ? await fromRegistry(c.ref, deps) : await fromLayout(c.src, deps);
      deps.stepCache.addImported(entries);
    } catch (e) {
      const missing = (e instanceof RegistryError && e.code === 'E_NOT_FOUND') || (e as NodeJS.ErrnoException).code === 'ENOENT';
      notes.push(missing ? `cache ${describe(c)} not found: nothing imported from it` : `cache ${describe(c)} ignored: ${(e as Error).message}`);
    }
  }
  return notes;
}

/** Layers the entries name, made known to the blob store (fetched by `fetch` when read; their diffIDs checked where they are used). */
function learnLayers(entries: readonly CacheEntry[], deps: ImportDeps, fetch: (digest: Digest, size: number) => Promise<void>): void {
  for (const { record } of entries) {
    const l = record.layer;
    if (l === null) continue;
    deps.blobs.addRemote(l.digest, l.size, () => fetch(l.digest, l.size));
  }
}

async function fromRegistry(ref: string, deps: ImportDeps): Promise<CacheEntry[]> {
  const r = parseReference(ref);
  const client = new RegistryClient(r.registry, r.repository, deps.registry);
  const manifest = await client.manifest(r.digest ?? r.tag ?? 'latest');
  let entries: CacheEntry[];
  const image = imageConfigOf(manifest.bytes);
  if (image !== undefined) {
    // an image (`--cache-from IMAGE`): its inline cache
    await client.fetchBlob(image.digest, deps.blobs, image.size);
    entries = fromInline(manifest.bytes, JSON.parse(await readFile(deps.blobs.path(image.digest), 'utf8')) as Parameters<typeof fromInline>[1]);
  } else {
    const config = cacheConfigOf(manifest.bytes);
    await client.fetchBlob(config.digest, deps.blobs, config.size);
    entries = decodeCache(manifest.bytes, await readFile(deps.blobs.path(config.digest)));
  }
  learnLayers(entries, deps, (digest, size) => client.fetchBlob(digest, deps.blobs, size));
  return entries;
}

/** The cache manifest of an OCI layout folder keel exported (its index names one manifest). */
async function fromLayout(dir: string, deps: ImportDeps): Promise<CacheEntry[]> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: Array<{ digest?: string }> };
  const top = index.manifests?.[0]?.digest;
  if (top === undefined || !isDigest(top)) throw new Error('its index.json names no manifest');
  const blob = (d: Digest): string => join(dir, 'blobs', 'sha256', hexOf(d));
  const manifest = await readFile(blob(top));
  if (sha256(manifest) !== top) throw new Error('its manifest does not match its digest');
  const config = cacheConfigOf(manifest);
  const entries = decodeCache(manifest, await readFile(blob(config.digest)));
  learnLayers(entries, deps, async (digest) => {
    await deps.blobs.put(createReadStream(blob(digest)), digest);
  });
  return entries;
}

/** An image manifest's config descriptor (undefined for anything else, such as a cache's manifest). */
function imageConfigOf(manifestBytes: Buffer): { digest: Digest; size: number } | undefined {
  try {
    const c = (JSON.parse(manifestBytes.toString('utf8')) as { config?: { mediaType?: string; digest?: string; size?: number } }).config;
    const image = c?.mediaType === MEDIA_TYPES.config || c?.mediaType === 'application/vnd.docker.container.image.v1+json';
    return image && typeof c?.digest === 'string' && isDigest(c.digest) && typeof c.size === 'number' && c.size < 4 << 20 ? { digest: c.digest, size: c.size } : undefined;
  } catch {
    return undefined;
  }
}

export interface ExportDeps {
  readonly blobs: BlobStore;
  readonly registry: RegistryOptions;
  /** Repositories that may hold the layers already (the image's push targets, the base's): mounted, not uploaded. */
  readonly mountFrom: readonly Pick<Reference, 'registry' | 'repository'>[];
}

/** Write `entries` to each cache; returns warnings (an export that failed: the build stands). */
export async function exportCaches(to: readonly CacheExport[], entriesFor: (mode: 'min' | 'max') => CacheEntry[], deps: ExportDeps): Promise<string[]> {
  const warnings: string[] = [];
  for (const c of to) {
    if (c.type === 'inline') continue; // written in the image's config (build.ts)
    try {
      const encoded = encodeCache(entriesFor(c.mode ?? 'min'));
      if (c.type === 'registry') await toRegistry(c.ref, encoded, deps);
      else await toLayout(c.dest, encoded, deps);
    } catch (e) {
      warnings.push(`the cache could not be exported to ${describe(c)}: ${(e as Error).message}`);
    }
  }
  return warnings;
}

async function toRegistry(ref: string, encoded: ReturnType<typeof encodeCache>, deps: ExportDeps): Promise<void> {
  const r = parseReference(ref);
  const client = new RegistryClient(r.registry, r.repository, deps.registry);
  client.forPush();
  for (const l of encoded.layers) {
    if (await client.blobExists(l.digest)) continue;
    let mounted = false;
    for (const from of deps.mountFrom) {
      if (mounted || from.registry !== r.registry || from.repository === r.repository) continue;
      mounted = await client.mountBlob(l.digest, from.repository);
    }
    if (!mounted) await client.uploadBlob(l.digest, l.size, () => deps.blobs.open(l.digest));
  }
  const configDigest = sha256(encoded.config);
  if (!(await client.blobExists(configDigest))) {
    await client.uploadBlob(configDigest, encoded.config.length, () => Promise.resolve(Readable.from([encoded.config])));
  }
  // the manifest last: a reader sees the old cache or the whole new one (two exports at once: the last one's)
  await client.putManifest(r.tag ?? 'latest', encoded.manifest, MEDIA_TYPES.manifest);
}

/** An OCI layout folder: blobs first (each written beside its name and renamed), index.json last, atomically. */
async function toLayout(dir: string, encoded: ReturnType<typeof encodeCache>, deps: ExportDeps): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (digest: Digest, write: (tmp: string) => Promise<void>): Promise<void> => {
    const target = join(blobs, hexOf(digest));
    if ((await stat(target).catch(() => undefined)) !== undefined) return;
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await write(tmp);
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  };
  for (const l of encoded.layers) {
    await deps.blobs.ensure(l.digest);
    await put(l.digest, (tmp) => link(deps.blobs.path(l.digest), tmp).catch(() => copyFile(deps.blobs.path(l.digest), tmp)));
  }
  await put(sha256(encoded.config), (tmp) => writeFile(tmp, encoded.config));
  await put(encoded.manifestDigest, (tmp) => writeFile(tmp, encoded.manifest));
  await writeFile(join(dir, 'oci-layout'), OCI_LAYOUT);
  await writeFileAtomic(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [{ mediaType: MEDIA_TYPES.manifest, digest: encoded.manifestDigest, size: encoded.manifest.length, artifactType: 'application/vnd.keel.cache.v1' }],
  }));
}
