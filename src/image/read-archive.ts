/**
 * Read an image from an archive: a `docker save` tarball (manifest.json) or an OCI layout tar
 * (index.json), as keel and docker write them. One streaming pass: every blob goes into the blob
 * store (OCI blobs verified against the digest they are named by), small JSON files are kept.
 * Returns the config and the layers as the image lists them.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobReader, BlobWriter } from './content.js';
import { KeelError } from '../errors.js';
import { isDigest, type Digest } from './digest.js';
import type { ImageConfig, Platform } from './image.js';
import type { Layer } from './layer.js';
import { choosePlatform, offeredPlatforms, platformString } from './platform.js';
import { MEDIA_TYPES } from './media-types.js';
import { readTar, type TarHeader } from './tar-reader.js';

export interface ArchiveImage {
  readonly config: ImageConfig;
  readonly layers: readonly Layer[];
}

const MAX_JSON = 16 << 20;
const bad = (path: string, why: string): never => {
  throw new KeelError('E_BUILD_INPUT', `${path}: not an image archive keel can read: ${why}`);
};

const cleanName = (n: string): string => n.replace(/^\.?\/+/, '').replace(/\/+$/, '');

async function collect(stream: Readable, limit: number, path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) bad(path, 'a JSON file is too large');
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

/** The files of an OCI image layout folder: `oci-layout`, `index.json` and every `blobs/sha256/` file. */
async function* layoutFiles(dir: string): AsyncGenerator<{ header: Pick<TarHeader, 'name' | 'type' | 'size'>; body: Readable }> {
  for (const name of ['oci-layout', 'index.json']) {
    const s = await stat(join(dir, name)).catch(() => undefined);
    if (s?.isFile() === true) yield { header: { name, type: 'file', size: s.size }, body: createReadStream(join(dir, name)) };
  }
  const blobDir = join(dir, 'blobs', 'sha256');
  for (const hex of (await readdir(blobDir).catch(() => [])).sort()) {
    const s = await lstat(join(blobDir, hex));
    if (s.isFile()) yield { header: { name: `blobs/sha256/${hex}`, type: 'file', size: s.size }, body: createReadStream(join(blobDir, hex)) };
  }
}

/**
 * An image from a `docker save` or OCI archive, or an OCI layout folder (`path` a folder). `tag`:
 * in an OCI layout, the manifest whose `org.opencontainers.image.ref.name` it is (buildx's
 * `oci-layout://path:tag`).
 */
export async function readImageArchive(path: string, store: BlobReader & BlobWriter, platform: Platform, tag?: string): Promise<ArchiveImage> {
  const json = new Map<string, Buffer>();
  const blobs = new Map<string, { digest: Digest; size: number }>(); // archive path -> stored blob
  const handle = async (header: Pick<TarHeader, 'name' | 'type' | 'size'>, stream: Readable): Promise<void> => {
    const name = cleanName(header.name);
    if (header.type !== 'file') return; // its body, if any, is skipped by the reader
    const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
    if (name.endsWith('.json') || name === 'oci-layout' || name === 'repositories') {
      json.set(name, await collect(stream, MAX_JSON, path));
    } else if (m !== null) {
      const digest = `sha256:${m[1] as string}` as Digest;
      if ((await store.stat(digest)) !== header.size) await store.put(stream, digest);
      blobs.set(name, { digest, size: header.size });
    } else {
      blobs.set(name, await store.put(stream)); // a docker-save layer.tar
    }
  };
  const folder = (await stat(path).catch(() => undefined))?.isDirectory() === true;
  const file = folder ? undefined : createReadStream(path);
  try {
    for await (const { header, body } of file === undefined ? layoutFiles(path) : readTar(file)) {
      await handle(header, body);
      if (file === undefined) body.destroy(); // a folder's file left unread is closed (a tar's is skipped by the reader)
    }
  } catch (e) {
    if (e instanceof KeelError) throw e;
    return bad(path, (e as Error).message);
  } finally {
    file?.destroy();
  }

  const parse = (name: string, bytes?: Buffer): unknown => {
    if (bytes === undefined) return bad(path, `${name} is missing`);
    try {
      return JSON.parse(bytes.toString('utf8')) as unknown;
    } catch {
      return bad(path, `${name} is not JSON`);
    }
  };
  const readBlobJson = async (digest: Digest): Promise<unknown> => collectJson(await store.open(digest), path);

  if (json.has('index.json') && json.has('oci-layout')) {
    const index = parse('index.json', json.get('index.json')) as { manifests?: Array<{ mediaType?: string; digest?: string; platform?: Platform; annotations?: Record<string, string> }> };
    const all = index.manifests ?? [];
    const manifests = tag === undefined ? all : all.filter((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag);
    if (tag !== undefined && manifests.length === 0) throw new KeelError('E_BUILD_INPUT', `${path}: no image tagged ${JSON.stringify(tag)} in its index.json`);
    let chosen = manifests[0];
    // an index of platforms (or an index inside the index): take the one for the target platform
    const byPlatform = choosePlatform(manifests, platform);
    if (byPlatform !== undefined) chosen = byPlatform;
    else if (manifests.length > 0 && manifests.every((d) => d.platform !== undefined)) {
      throw new KeelError('E_PLATFORM', `${path}: no image for ${platformString(platform)} in its index.json (it has ${offeredPlatforms(manifests)})`);
    }
    if (chosen?.digest === undefined || !isDigest(chosen.digest)) return bad(path, 'index.json names no manifest');
    let manifest = (await readBlobJson(chosen.digest)) as { mediaType?: string; manifests?: typeof manifests; config?: { digest?: string }; layers?: Array<{ mediaType?: string; digest?: string; size?: number }> };
    if (manifest.manifests !== undefined) {
      const inner = choosePlatform(manifest.manifests, platform);
      if (inner?.digest === undefined || !isDigest(inner.digest)) {
        throw new KeelError('E_PLATFORM', `${path}: no image for ${platformString(platform)} in its index (it has ${offeredPlatforms(manifest.manifests)})`);
      }
      manifest = (await readBlobJson(inner.digest)) as typeof manifest;
    }
    const configDigest = manifest.config?.digest;
    if (configDigest === undefined || !isDigest(configDigest)) return bad(path, 'the manifest names no config');
    const config = (await readBlobJson(configDigest)) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    const layers = (manifest.layers ?? []).map((l, i) => {
      if (l.digest === undefined || !isDigest(l.digest)) return bad(path, 'a layer has no digest');
      const diffId = diffIds[i];
      if (diffId === undefined) return bad(path, 'the config has fewer diff_ids than the manifest has layers');
      if (!isDigest(diffId)) return bad(path, `the config's diff_ids[${i}] is not a digest`);
      const m = l.mediaType ?? '';
      const mediaType = m.endsWith('gzip') ? MEDIA_TYPES.layerGzip : m.endsWith('zstd') ? MEDIA_TYPES.layerZstd : MEDIA_TYPES.layer;
      return { mediaType, digest: l.digest, diffId, size: l.size ?? -1 } as Layer;
    });
    // a descriptor's size is checked like its digest: the blob the archive holds must have it
    for (const l of layers) {
      const stored = await store.stat(l.digest);
      if (stored !== l.size) throw new KeelError('E_DIGEST_MISMATCH', `${path}: layer ${l.digest} has ${stored ?? 'no'} bytes, but its manifest says ${l.size}`);
    }
    return { config, layers };
  }

  const list = parse('manifest.json', json.get('manifest.json')) as Array<{ Config?: string; Layers?: string[] }>;
  const entry = list[0];
  if (entry?.Config === undefined) return bad(path, 'manifest.json names no config');
  const configPath = cleanName(entry.Config);
  const config = parse(configPath, json.get(configPath) ?? (blobs.has(configPath) ? await collectJson(await store.open((blobs.get(configPath) as { digest: Digest }).digest), path).then((v) => Buffer.from(JSON.stringify(v))) : undefined)) as ImageConfig;
  const diffIds = config.rootfs?.diff_ids ?? [];
  const layers = (entry.Layers ?? []).map((p, i) => {
    const blob = blobs.get(cleanName(p));
    if (blob === undefined) return bad(path, `layer ${p} is missing`);
    const diffId = diffIds[i];
    if (diffId === undefined) return bad(path, 'the config has fewer diff_ids than manifest.json has layers');
    if (!isDigest(diffId)) return bad(path, `the config's diff_ids[${i}] is not a digest`);
    // a docker-save layer is the uncompressed tar (its digest is its diffID) or, in newer archives, a blob
    const mediaType = blob.digest === diffId ? MEDIA_TYPES.layer : MEDIA_TYPES.layerGzip;
    return { mediaType, digest: blob.digest, diffId, size: blob.size } as Layer;
  });
  return { config, layers };
}

async function collectJson(stream: Readable, path: string): Promise<unknown> {
  const bytes = await collect(stream, MAX_JSON, path);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return bad(path, 'a JSON blob is not JSON');
  }
}
