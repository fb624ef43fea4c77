/** A layer blob's diffID computed from its bytes: sha256 of the uncompressed tar. */
import { pipeline } from 'node:stream/promises';
import { HashCounter, layerCompression, type BlobReader, type Digest, type Layer } from '../image/index.js';
import { decompress, type UnpackLimits } from './decompress.js';

export async function computeDiffId(blobs: BlobReader, layer: Pick<Layer, 'digest' | 'mediaType'>, limits?: UnpackLimits, signal?: AbortSignal): Promise<Digest> {
  const hash = new HashCounter();
  await pipeline(decompress(await blobs.open(layer.digest), layerCompression(layer.mediaType), limits), hash, async function* (source: AsyncIterable<Buffer>) {
    for await (const _ of source) yield* [];
  }, signal === undefined ? {} : { signal });
  return hash.digest();
}
