/**
 * The `oci-archive` output: one tar that is both an OCI image layout and a `docker save` archive
 * (SPEC.md section 5), entries sorted, times at the epoch, written beside its destination and
 * renamed into place, so a failed or aborted write leaves an earlier file at that path intact.
 * The tar is keel's own writer's (image/tar-writer.ts): the bytes tar-stream wrote for these
 * entries, without loading it for every build.
 */
import { Readable } from 'node:stream';
import { KeelError } from '../errors.js';
import {
  blobList, dockerManifestJson, encodeTarHeader, END_OF_ARCHIVE, hexOf, indexJson, loadableImage, OCI_LAYOUT, tarPadding, type BlobReader, type BuiltArtifact, type Platform,
} from '../image/index.js';
import { writeBytes, type Destination } from './destination.js';
import { checkWritableParent, destination, sending, shownAs, type BuildOutput, type Sink } from './sink.js';

const header = (name: string, type: 'file' | 'directory', size: number, mode: number): Buffer[] =>
  encodeTarHeader({ name, type, size, mode, uid: 0, gid: 0, mtime: 0 });

/** The archive's bytes: the layout's folders, every blob (streamed from the store), then the JSON files. */
export async function* imageArchive(artifact: BuiltArtifact, tags: readonly string[], blobs: BlobReader, prefer: Platform): AsyncGenerator<Buffer> {
  yield* header('blobs/', 'directory', 0, 0o755);
  yield* header('blobs/sha256/', 'directory', 0, 0o755);
  for (const b of blobList(artifact)) {
    const name = `blobs/sha256/${hexOf(b.digest)}`;
    const size = b.bytes?.length ?? b.size;
    yield* header(name, 'file', size, 0o644);
    if (b.bytes !== undefined) {
      yield b.bytes;
    } else {
      let seen = 0;
      for await (const chunk of await blobs.open(b.digest)) {
        seen += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      if (seen !== size) throw new KeelError('E_CACHE', `blob ${b.digest} in the cache has ${seen} bytes, not ${size}`);
    }
    yield tarPadding(size);
  }
  const files: ReadonlyArray<readonly [string, Buffer, number]> = [
    ['index.json', indexJson(artifact, tags), 0o644],
    // docker load's classic store reads this: one image, the one for the host's platform
    ['manifest.json', dockerManifestJson(loadableImage(artifact, prefer), tags), 0o644],
    ['oci-layout', OCI_LAYOUT, 0o444],
  ];
  for (const [name, body, mode] of files) {
    yield* header(name, 'file', body.length, mode);
    yield body;
    yield tarPadding(body.length);
  }
  yield END_OF_ARCHIVE;
}

/**
 * Write the combined OCI layout + docker-save archive (entries sorted, times at the epoch) to a file
 * or a stream. With several platforms, index.json names their index and manifest.json the image for
 * `prefer` (a store without indexes holds one platform).
 */
export async function writeOciArchive(
  artifact: BuiltArtifact,
  tags: readonly string[],
  blobs: BlobReader,
  prefer: Platform,
  to: Destination,
  signal?: AbortSignal,
  onBytes?: (bytes: number) => void,
): Promise<void> {
  await writeBytes(Readable.from(imageArchive(artifact, tags, blobs, prefer), { objectMode: false }), to, signal, onBytes);
}

export const ociArchiveSink: Sink<Extract<BuildOutput, { type: 'oci-archive' }>> = {
  image: true,
  describe: (o) => `exporting to image archive ${shownAs(o)}`,
  check: async (o) => {
    if (o.path !== undefined) await checkWritableParent(o.path, 'file');
  },
  write: async (artifact, o, opts) => {
    await writeOciArchive(artifact, o.names ?? opts.tags, opts.blobs, opts.hostPlatform, destination(o), opts.signal, sending(opts));
    return {};
  },
};
