/**
 * The files of an OCI image layout (SPEC.md section 5): index.json (with containerd's and OCI's
 * name annotations), oci-layout, the `docker save` manifest.json, and the list of blobs, shared by
 * the archive and folder outputs (output/). See reference/builders-semantics.md 5.5: `docker load`
 * reads manifest.json on the classic store and index.json + oci-layout on the containerd store.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { hexOf, type Digest } from './digest.js';
import { canonicalJson, type BuiltImage } from './image.js';
import { MEDIA_TYPES } from './media-types.js';
import { parseTag } from './reference.js';

export const OCI_LAYOUT = Buffer.from(canonicalJson({ imageLayoutVersion: '1.0.0' }));

export function indexJson(image: BuiltImage, tags: readonly string[]): Buffer {
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

/** Every blob of the image, each once, in digest order. */
export function blobList(image: BuiltImage): Array<{ digest: Digest; size: number; bytes?: Buffer }> {
  const all = new Map<Digest, { digest: Digest; size: number; bytes?: Buffer }>();
  all.set(image.configBlob.digest, { digest: image.configBlob.digest, size: image.configBlob.size, bytes: image.configBlob.bytes });
  all.set(image.manifestBlob.digest, { digest: image.manifestBlob.digest, size: image.manifestBlob.size, bytes: image.manifestBlob.bytes });
  for (const l of image.layers) if (!all.has(l.digest)) all.set(l.digest, { digest: l.digest, size: l.size });
  return [...all.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1));
}

/** A temporary name beside `path`: output is written there and renamed into place, so a failed write leaves an earlier file intact. */
export const tempBeside = (path: string): string => join(dirname(path), `.${randomBytes(6).toString('hex')}.keel-tmp`);

