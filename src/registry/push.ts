/**
 * Push a built image to a registry under each of its tags: blobs the repository already has are
 * skipped (HEAD), blobs of the base image are mounted from the base's repository when it is on the
 * same registry, the rest are uploaded (streamed from the blob store); then the manifest is put
 * under the tag. Returns the manifest digest the registry holds.
 */
import { Readable } from 'node:stream';
import { MEDIA_TYPES, parseReference, type BlobReader, type BuiltImage, type Digest, type Reference } from '../image/index.js';
import { RegistryClient, type RegistryOptions } from './client.js';

export interface PushResult {
  readonly reference: string;
  readonly digest: Digest;
}

export async function pushImage(
  image: BuiltImage,
  tags: readonly string[],
  store: BlobReader,
  opts: RegistryOptions & { readonly mountFrom?: Pick<Reference, 'registry' | 'repository'> },
): Promise<PushResult[]> {
  const results: PushResult[] = [];
  for (const tag of tags) {
    const ref = parseReference(tag);
    const client = new RegistryClient(ref.registry, ref.repository, opts);
    client.forPush();
    const blobs: Array<{ digest: Digest; size: number; open: () => Promise<Readable> }> = [
      ...image.layers.map((l) => ({ digest: l.digest, size: l.size, open: () => store.open(l.digest) })),
      { digest: image.configBlob.digest, size: image.configBlob.size, open: () => Promise.resolve(Readable.from([image.configBlob.bytes])) },
    ];
    for (const b of blobs) {
      if (await client.blobExists(b.digest)) continue;
      const from = opts.mountFrom;
      if (from !== undefined && from.registry === ref.registry && from.repository !== ref.repository && (await client.mountBlob(b.digest, from.repository))) continue;
      await client.uploadBlob(b.digest, b.size, b.open);
    }
    const digest = await client.putManifest(ref.tag ?? 'latest', image.manifestBlob.bytes, MEDIA_TYPES.manifest);
    results.push({ reference: `${ref.registry}/${ref.repository}:${ref.tag ?? 'latest'}`, digest });
  }
  return results;
}
