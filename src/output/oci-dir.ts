/**
 * The `oci-dir` output: an OCI image layout folder, written beside its destination and renamed
 * into place.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { blobList, hexOf, indexJson, OCI_LAYOUT, tempBeside, type BlobReader, type BuiltArtifact } from '../image/index.js';

/**
 * Write an OCI layout folder at `path`. Layer blobs are hard links into the blob store where the
 * file system allows it (cheap for large images), else copies (streamed from a store without files).
 */
export async function writeOciDir(artifact: BuiltArtifact, tags: readonly string[], blobs: BlobReader, path: string): Promise<void> {
  const tmp = tempBeside(path);
  try {
    const dir = join(tmp, 'blobs', 'sha256');
    await mkdir(dir, { recursive: true });
    for (const b of blobList(artifact)) {
      const target = join(dir, hexOf(b.digest));
      if (b.bytes !== undefined) await writeFile(target, b.bytes);
      else if (blobs.path !== undefined && (await blobs.stat(b.digest)) !== undefined) {
        const from = blobs.path(b.digest);
        await link(from, target).catch(() => copyFile(from, target));
      } else await pipeline(await blobs.open(b.digest), createWriteStream(target));
    }
    await writeFile(join(tmp, 'index.json'), indexJson(artifact, tags));
    await writeFile(join(tmp, 'oci-layout'), OCI_LAYOUT);
    await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
