/**
 * Pull an image into the blob store. A digest reference needs no request once its blobs are
 * stored; a tag costs one HEAD request (for its current digest) when the image is already stored;
 * `pull: 'never'` uses only what an earlier pull recorded. Manifest lists and OCI indexes resolve
 * to the target platform. Every blob is verified against its digest as it streams in.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { KeelError } from '../errors.js';
import { choosePlatform, formatReference, isDigest, offeredPlatforms, platformString, MEDIA_TYPES, type ContentStore, type Digest, type ImageConfig, type Layer, type Platform, type Reference } from '../image/index.js';
import { RegistryClient, type BlobCopy, type RegistryOptions } from './client.js';

export type PullPolicy = 'missing' | 'always' | 'never';

export interface PulledImage {
  readonly config: ImageConfig;
  readonly layers: readonly Layer[];
  /** The digest of the (platform) manifest used. */
  readonly digest: Digest;
}

interface ManifestJson {
  mediaType?: string;
  manifests?: Array<{ digest?: string; platform?: Platform & { variant?: string } }>;
  config?: { digest?: string; size?: number };
  layers?: Array<{ mediaType?: string; digest?: string; size?: number }>;
}

const layerType = (m: string | undefined): Layer['mediaType'] =>
  m?.endsWith('zstd') ? MEDIA_TYPES.layerZstd : m?.endsWith('gzip') || m?.endsWith('.tar.gzip') ? MEDIA_TYPES.layerGzip : m?.endsWith('tar') ? MEDIA_TYPES.layer : MEDIA_TYPES.layerGzip;

async function storedJson(store: ContentStore, digest: Digest): Promise<Buffer | undefined> {
  if ((await store.stat(digest)) === undefined) return undefined;
  const parts: Buffer[] = [];
  for await (const c of await store.open(digest)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Where the tag -> digest answers of earlier pulls are kept (for `pull: 'never'`). */
function refFile(refsDir: string, ref: Reference): string {
  return join(refsDir, `${createHash('sha256').update(formatReference({ ...ref, digest: undefined } as Reference)).digest('hex')}.json`);
}

async function recordRef(refsDir: string, ref: Reference, digest: Digest): Promise<void> {
  await mkdir(refsDir, { recursive: true });
  const file = refFile(refsDir, ref);
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify({ reference: formatReference(ref), digest }));
  await rename(tmp, file).finally(() => rm(tmp, { force: true }));
}

export async function pullImage(
  ref: Reference,
  store: ContentStore,
  platform: Platform,
  opts: RegistryOptions & {
    readonly pull?: PullPolicy; readonly refsDir: string; readonly jobs?: number;
    /** Where a copy of a layer's bytes goes while it downloads (its index in the image; undefined: nowhere). */
    readonly copyLayer?: (layer: Layer, index: number) => Promise<Writable | undefined>;
  },
): Promise<PulledImage> {
  const client = new RegistryClient(ref.registry, ref.repository, opts);
  const name = formatReference(ref);
  const policy = opts.pull ?? 'missing';

  // 1. the digest to use
  let top: Digest | undefined = ref.digest;
  if (top === undefined) {
    // a tag pulled before is not missing: as `docker build` without --pull, it is used as stored
    // (no registry round trip); 'always' asks the registry where the tag points now
    const known = policy === 'always' ? undefined : await readFile(refFile(opts.refsDir, ref), 'utf8').then(
      (t) => (JSON.parse(t) as { digest?: string }).digest,
      () => undefined,
    );
    const stored = known !== undefined && isDigest(known) && (await storedJson(store, known)) !== undefined;
    if (stored) top = known;
    else if (policy === 'never') throw new KeelError('E_NOT_FOUND', `${name} has not been pulled before, and pulling is off (pull: 'never')`);
    else top = await client.resolveTag(ref.tag ?? 'latest');
  }

  // 2. the manifest (or index), from the store when it is there
  const manifestBytes = async (digestOrTag: string): Promise<{ bytes: Buffer; digest: Digest }> => {
    if (isDigest(digestOrTag) && policy !== 'always') {
      const have = await storedJson(store, digestOrTag);
      if (have !== undefined) return { bytes: have, digest: digestOrTag };
    }
    if (policy === 'never') throw new KeelError('E_NOT_FOUND', `${name}: manifest ${digestOrTag} is not stored, and pulling is off`);
    const m = await client.manifest(digestOrTag);
    await store.put(Readable.from([m.bytes]), m.digest);
    return m;
  };
  let { bytes, digest } = await manifestBytes(top ?? ref.tag ?? 'latest');
  if (ref.tag !== undefined && ref.digest === undefined) await recordRef(opts.refsDir, ref, digest);
  let manifest = JSON.parse(bytes.toString('utf8')) as ManifestJson;

  // 3. an index: the manifest for the platform
  if (manifest.manifests !== undefined) {
    const chosen = choosePlatform(manifest.manifests, platform);
    if (chosen?.digest === undefined || !isDigest(chosen.digest)) {
      throw new KeelError('E_PLATFORM', `${name} has no image for ${platformString(platform)} (it has ${offeredPlatforms(manifest.manifests)})`);
    }
    ({ bytes, digest } = await manifestBytes(chosen.digest));
    manifest = JSON.parse(bytes.toString('utf8')) as ManifestJson;
  }

  // 4. config and layers
  const configDigest = manifest.config?.digest;
  if (configDigest === undefined || !isDigest(configDigest)) throw new KeelError('E_REGISTRY', `${name}: the manifest names no config`);
  const fetchBlob = async (d: Digest, size: number, copy?: BlobCopy): Promise<void> => {
    // a descriptor's size is checked like its digest (containerd does): a blob of another size is
    // not the one the manifest names, whatever its digest
    if (!Number.isSafeInteger(size) || size < 0) throw new KeelError('E_DIGEST_MISMATCH', `${name}: blob ${d} has no valid size in its manifest (${size})`);
    const stored = await store.stat(d);
    if (stored === size) return;
    if (stored !== undefined) throw new KeelError('E_DIGEST_MISMATCH', `${name}: blob ${d} has ${stored} bytes, but its manifest says ${size}`);
    if (policy === 'never') throw new KeelError('E_NOT_FOUND', `${name}: blob ${d} is not stored, and pulling is off`);
    await client.fetchBlob(d, store, size, copy);
    const got = await store.stat(d);
    if (got !== size) throw new KeelError('E_DIGEST_MISMATCH', `${name}: blob ${d} has ${got ?? 0} bytes, but its manifest says ${size}`);
  };
  // the size its manifest gives is checked before the download, and the download held to it
  const configSize = manifest.config?.size;
  if (configSize === undefined || !Number.isSafeInteger(configSize) || configSize < 0) throw new KeelError('E_REGISTRY', `${name}: the manifest gives the config no size`);
  if (configSize > 4 << 20) throw new KeelError('E_REGISTRY', `${name}: the config is larger than 4 MiB`);
  await fetchBlob(configDigest, configSize);
  const config = JSON.parse(((await storedJson(store, configDigest)) as Buffer).toString('utf8')) as ImageConfig;
  const diffIds = config.rootfs?.diff_ids ?? [];
  const layers: Layer[] = (manifest.layers ?? []).map((l, i) => {
    if (l.digest === undefined || !isDigest(l.digest) || diffIds[i] === undefined) throw new KeelError('E_REGISTRY', `${name}: layer ${i} does not match its config`);
    // a diffID names folders in the cache: a string that is not a digest never becomes a path
    if (!isDigest(diffIds[i])) throw new KeelError('E_DIGEST', `${name}: the config's diff_ids[${i}] is not a digest`);
    return { mediaType: layerType(l.mediaType), digest: l.digest, diffId: diffIds[i] as Digest, size: l.size ?? -1 };
  });
  // a few downloads at once
  const queue = layers.map((l, i) => [l, i] as const);
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [l, i] = next;
      const copy = opts.copyLayer;
      await fetchBlob(l.digest, l.size, copy === undefined ? undefined : () => copy(l, i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.jobs ?? 3, Math.max(1, layers.length)) }, worker));
  return { config, layers, digest };
}
