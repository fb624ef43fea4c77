/**
 * Writing an image out: as one tar that is both an OCI image layout and a `docker save` archive
 * (`oci-archive`), or as an OCI layout folder (`oci-dir`). See SPEC.md section 5 and
 * reference/builders-semantics.md 5.5: `docker load` reads manifest.json on the classic store and
 * index.json + oci-layout on the containerd store, so the archive carries both.
 *
 * Output is written beside its destination and renamed into place: a failed or aborted write
 * leaves an earlier file at that path intact.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack, type Pack } from 'tar-stream';
import type { BlobReader } from '../cache/blob-store.js';
import { hexOf, type Digest } from './digest.js';
import { canonicalJson, type BuiltImage } from './image.js';
import { MEDIA_TYPES } from './media-types.js';
import { parseTag } from './reference.js';

const EPOCH = new Date(0);
const OCI_LAYOUT = Buffer.from(canonicalJson({ imageLayoutVersion: '1.0.0' }));

function indexJson(image: BuiltImage, tags: readonly string[]): Buffer {
  const descriptor = { mediaType: MEDIA_TYPES.manifest, digest: image.manifestBlob.digest, size: image.manifestBlob.size };
  const refs = tags.map(parseTag);
  const manifests =
    refs.length === 0
      ? [descriptor]
      : refs.map((r) => ({
          ...descriptor,
          annotations: { 'io.containerd.image.name': r.full, 'org.opencontainers.image.ref.name': r.tag },
        }));
  return Buffer.from(canonicalJson({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests }));
}

/** The `docker save` manifest.json: paths into the same blobs the OCI manifest names. */
function dockerManifestJson(image: BuiltImage, tags: readonly string[]): Buffer {
  return Buffer.from(
    JSON.stringify([
      {
        Config: `blobs/sha256/${hexOf(image.configBlob.digest)}`,
        RepoTags: tags.map((t) => parseTag(t).familiar),
        Layers: image.layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`),
      },
    ]),
  );
}

/** Every blob of the image, each once, in digest order. */
function blobList(image: BuiltImage): Array<{ digest: Digest; size: number; bytes?: Buffer }> {
  const all = new Map<Digest, { digest: Digest; size: number; bytes?: Buffer }>();
  all.set(image.configBlob.digest, { digest: image.configBlob.digest, size: image.configBlob.size, bytes: image.configBlob.bytes });
  all.set(image.manifestBlob.digest, { digest: image.manifestBlob.digest, size: image.manifestBlob.size, bytes: image.manifestBlob.bytes });
  for (const l of image.layers) if (!all.has(l.digest)) all.set(l.digest, { digest: l.digest, size: l.size });
  return [...all.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1));
}

function entry(tar: Pack, name: string, body: Buffer, mode = 0o644): Promise<void> {
  return new Promise((resolve, reject) =>
    tar.entry({ name, mode, mtime: EPOCH, uid: 0, gid: 0, type: 'file' }, body, (e) => (e ? reject(e) : resolve())),
  );
}

function dirEntry(tar: Pack, name: string): Promise<void> {
  return new Promise((resolve, reject) =>
    tar.entry({ name, mode: 0o755, mtime: EPOCH, uid: 0, gid: 0, type: 'directory' }, (e) => (e ? reject(e) : resolve())),
  );
}

const tempBeside = (path: string): string => join(dirname(path), `.${randomBytes(6).toString('hex')}.keel-tmp`);

/** Write the combined OCI layout + docker-save archive to `path` (entries sorted, times at the epoch). */
export async function writeOciArchive(
  image: BuiltImage,
  tags: readonly string[],
  blobs: BlobReader,
  path: string,
  signal?: AbortSignal,
): Promise<void> {
  const tar = pack();
  const fill = async (): Promise<void> => {
    await dirEntry(tar, 'blobs/');
    await dirEntry(tar, 'blobs/sha256/');
    for (const b of blobList(image)) {
      const name = `blobs/sha256/${hexOf(b.digest)}`;
      if (b.bytes !== undefined) {
        await entry(tar, name, b.bytes);
        continue;
      }
      const sink = tar.entry({ name, size: b.size, mode: 0o644, mtime: EPOCH, uid: 0, gid: 0, type: 'file' });
      await pipeline(await blobs.open(b.digest), sink as unknown as NodeJS.WritableStream);
    }
    await entry(tar, 'index.json', indexJson(image, tags));
    await entry(tar, 'manifest.json', dockerManifestJson(image, tags));
    await entry(tar, 'oci-layout', OCI_LAYOUT, 0o444);
    tar.finalize();
  };
  const tmp = tempBeside(path);
  try {
    const filling = fill().catch((e: unknown) => {
      tar.destroy(e as Error);
    });
    await pipeline(tar as unknown as NodeJS.ReadableStream, createWriteStream(tmp), signal === undefined ? {} : { signal });
    await filling;
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Write an OCI layout folder at `path`. Layer blobs are hard links into the blob store where the
 * file system allows it (cheap for large images), else copies.
 */
export async function writeOciDir(image: BuiltImage, tags: readonly string[], blobs: BlobReader, path: string): Promise<void> {
  const tmp = tempBeside(path);
  try {
    const dir = join(tmp, 'blobs', 'sha256');
    await mkdir(dir, { recursive: true });
    for (const b of blobList(image)) {
      const target = join(dir, hexOf(b.digest));
      if (b.bytes !== undefined) await writeFile(target, b.bytes);
      else await link(blobs.path(b.digest), target).catch(() => copyFile(blobs.path(b.digest), target));
    }
    await writeFile(join(tmp, 'index.json'), indexJson(image, tags));
    await writeFile(join(tmp, 'oci-layout'), OCI_LAYOUT);
    await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
