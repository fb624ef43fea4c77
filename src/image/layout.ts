/**
 * The files of an OCI image layout (SPEC.md section 5): index.json (with containerd's and OCI's
 * name annotations), oci-layout, the `docker save` manifest.json, and the list of blobs, shared by
 * the archive and folder outputs (output/). See reference/builders-semantics.md 5.5: `docker load`
 * reads manifest.json on the classic store and index.json + oci-layout on the containerd store.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { hexOf, type Digest } from './digest.js';
import { canonicalJson, imagePlatform, imagesOf, topDescriptor, type BuiltArtifact, type BuiltImage, type JsonBlob, type Platform } from './image.js';
import { choosePlatform } from './platform.js';
import { MEDIA_TYPES } from './media-types.js';
import { parseTag } from './reference.js';

export const OCI_LAYOUT = Buffer.from(canonicalJson({ imageLayoutVersion: '1.0.0' }));

/** index.json: the image's manifest (or the index of its platforms), once per tag with its names. */
export function indexJson(artifact: BuiltArtifact, tags: readonly string[]): Buffer {
  const descriptor = topDescriptor(artifact);
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
export function dockerManifestJson(image: BuiltImage, tags: readonly string[]): Buffer {
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

/** Every blob of the image (or of every platform's image, and the index), each once, in digest order. */
export function blobList(artifact: BuiltArtifact): Array<{ digest: Digest; size: number; bytes?: Buffer }> {
  const all = new Map<Digest, { digest: Digest; size: number; bytes?: Buffer }>();
  const json = (b: JsonBlob): void => void all.set(b.digest, { digest: b.digest, size: b.size, bytes: b.bytes });
  if (artifact.kind === 'index') json(artifact.indexBlob);
  for (const image of imagesOf(artifact)) {
    json(image.configBlob);
    json(image.manifestBlob);
    for (const l of image.layers) if (!all.has(l.digest)) all.set(l.digest, { digest: l.digest, size: l.size });
  }
  return [...all.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1));
}

/**
 * The image a `docker save` manifest.json names, for a Docker image store that holds no index (the
 * classic one): the image, or of an index the one for `prefer` (the host's platform), else the first.
 */
export function loadableImage(artifact: BuiltArtifact, prefer: Platform): BuiltImage {
  if (artifact.kind === 'image') return artifact;
  const entries = artifact.images.map((image) => ({ image, platform: imagePlatform(image) }));
  return (choosePlatform(entries, prefer) ?? entries[0])?.image as BuiltImage;
}

/** A temporary name beside `path`: output is written there and renamed into place, so a failed write leaves an earlier file intact. */
export const tempBeside = (path: string): string => join(dirname(path), `.${randomBytes(6).toString('hex')}.keel-tmp`);

