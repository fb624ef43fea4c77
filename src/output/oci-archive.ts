/**
 * The `oci-archive` output: one tar that is both an OCI image layout and a `docker save` archive
 * (SPEC.md section 5), entries sorted, times at the epoch, written beside its destination and
 * renamed into place, so a failed or aborted write leaves an earlier file at that path intact.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { pack, type Pack } from 'tar-stream';
import { blobList, dockerManifestJson, hexOf, indexJson, OCI_LAYOUT, tempBeside, type BlobReader, type BuiltImage } from '../image/index.js';

const EPOCH = new Date(0);

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

