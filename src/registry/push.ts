/**
 * Push a built image (or an index of one image per platform) to a registry under each of its tags: blobs the repository already has are
 * skipped (HEAD), blobs of the base image are mounted from the base's repository when it is on the
 * same registry, the rest are uploaded (streamed from the blob store); then the manifest is put
 * under the tag. Returns the manifest digest the registry holds.
 */
import { Readable } from 'node:stream';
import { imagesOf, MEDIA_TYPES, parseReference, topDescriptor, type BlobReader, type BuiltArtifact, type BuiltImage, type Digest, type Reference } from '../image/index.js';
import { RegistryClient, type RegistryOptions } from './client.js';

export interface PushResult {
  readonly reference: string;
  readonly digest: Digest;
}

export async function pushImage(
  artifact: BuiltArtifact,
  tags: readonly string[],
  store: BlobReader,
  opts: RegistryOptions & { readonly mountFrom?: Pick<Reference, 'registry' | 'repository'> },
): Promise<PushResult[]> {
  const results: PushResult[] = [];
  for (const tag of tags) {
    const ref = parseReference(tag);
    const client = new RegistryClient(ref.registry, ref.repository, opts);
    client.forPush();
    // an index's images go up first, by digest: a registry takes an index only once it has what it names
    for (const image of imagesOf(artifact)) {
      await pushBlobs(client, image, store, ref, opts.mountFrom);
      if (artifact.kind === 'index') await client.putManifest(image.manifestBlob.digest, image.manifestBlob.bytes, MEDIA_TYPES.manifest);
    }
    const top = topDescriptor(artifact);
    const bytes = artifact.kind === 'image' ? artifact.manifestBlob.bytes : artifact.indexBlob.bytes;
    const digest = await client.putManifest(ref.tag ?? 'latest', bytes, top.mediaType);
    results.push({ reference: `${ref.registry}/${ref.repository}:${ref.tag ?? 'latest'}`, digest });
  }
  return results;
}

/** An image's layers and config, each unless the repository has it or it can be mounted from the base's. */
async function pushBlobs(client: RegistryClient, image: BuiltImage, store: BlobReader, ref: Reference, from: Pick<Reference, 'registry' | 'repository'> | undefined): Promise<void> {
  const blobs: Array<{ digest: Digest; size: number; open: () => Promise<Readable> }> = [
    ...image.layers.map((l) => ({ digest: l.digest, size: l.size, open: () => store.open(l.digest) })),
    { digest: image.configBlob.digest, size: image.configBlob.size, open: () => Promise.resolve(Readable.from([image.configBlob.bytes])) },
  ];
  for (const b of blobs) {
    if (await client.blobExists(b.digest)) continue;
    if (from !== undefined && from.registry === ref.registry && from.repository !== ref.repository && (await client.mountBlob(b.digest, from.repository))) continue;
    await client.uploadBlob(b.digest, b.size, b.open);
  }
}
