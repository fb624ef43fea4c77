/**
 * The `oci-archive` output: one tar that is both an OCI image layout and a `docker save` archive
 * (SPEC.md section 5), entries sorted, times at the epoch, written beside its destination and
 * renamed into place, so a failed or aborted write leaves an earlier file at that path intact.
 * The tar is keel's own writer's (image/tar-writer.ts): the bytes tar-stream wrote for these
 * entries, without loading it for every build.
 */
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { KeelError } from '../errors.js';
import {
  blobList, dockerManifestJson, encodeTarHeader, END_OF_ARCHIVE, hexOf, indexJson, loadableImage, OCI_LAYOUT, tarPadding, type BlobReader, type BuiltArtifact, type Platform,
} from '../image/index.js';
import { writeBytes, type Destination } from './destination.js';
import { checkWritableParent, destination, sending, shownAs, type BuildOutput, type Sink } from './sink.js';

const header = (name: string, type: 'file' | 'directory', size: number, mode: number): Buffer[] =>
  encodeTarHeader({ name, type, size, mode, uid: 0, gid: 0, mtime: 0 });

/** The archive's JSON files, in the order written. */
function layoutFiles(artifact: BuiltArtifact, tags: readonly string[], prefer: Platform): ReadonlyArray<readonly [string, Buffer, number]> {
  return [
    ['index.json', indexJson(artifact, tags), 0o644],
    // docker load's classic store reads this: one image, the one for the host's platform
    ['manifest.json', dockerManifestJson(loadableImage(artifact, prefer), tags), 0o644],
    ['oci-layout', OCI_LAYOUT, 0o444],
  ];
}

/**
 * Whether the file at `path` is already the archive imageArchive would write: the same entries
 * (every header byte for byte, so names, sizes, modes and order) and the same JSON files, at the
 * same total size. Blob bodies are not read: they are named by their digests. An output that holds
 * the image already is then left as it is (issue 23), as docker's store keeps an image it has.
 */
export async function archiveHolds(path: string, artifact: BuiltArtifact, tags: readonly string[], prefer: Platform): Promise<boolean> {
  const entries: Array<{ readonly head: Buffer; readonly size: number; readonly body?: Buffer }> = [
    { head: Buffer.concat(header('blobs/', 'directory', 0, 0o755)), size: 0 },
    { head: Buffer.concat(header('blobs/sha256/', 'directory', 0, 0o755)), size: 0 },
    ...blobList(artifact).map((b) => {
      const size = b.bytes?.length ?? b.size;
      return { head: Buffer.concat(header(`blobs/sha256/${hexOf(b.digest)}`, 'file', size, 0o644)), size, ...(b.bytes === undefined ? {} : { body: b.bytes }) };
    }),
    ...layoutFiles(artifact, tags, prefer).map(([name, body, mode]) => ({ head: Buffer.concat(header(name, 'file', body.length, mode)), size: body.length, body })),
  ];
  const padded = (n: number): number => Math.ceil(n / 512) * 512;
  const total = entries.reduce((sum, e) => sum + e.head.length + padded(e.size), 0) + END_OF_ARCHIVE.length;
  const file = await open(path, 'r').catch(() => undefined);
  if (file === undefined) return false;
  try {
    const st = await file.stat();
    if (!st.isFile() || st.size !== total) return false;
    let at = 0;
    const same = async (want: Buffer): Promise<boolean> => {
      const got = Buffer.alloc(want.length);
      const { bytesRead } = await file.read(got, 0, want.length, at);
      return bytesRead === want.length && got.equals(want);
    };
    for (const e of entries) {
      if (!(await same(e.head))) return false;
      at += e.head.length;
      if (e.body !== undefined && !(await same(e.body))) return false;
      at += padded(e.size);
    }
    return same(END_OF_ARCHIVE);
  } finally {
    await file.close();
  }
}

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
  for (const [name, body, mode] of layoutFiles(artifact, tags, prefer)) {
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
    const tags = o.names ?? opts.tags;
    if (o.path !== undefined && (await archiveHolds(o.path, artifact, tags, opts.hostPlatform))) return {}; // the same image there already
    await writeOciArchive(artifact, o.names ?? opts.tags, opts.blobs, opts.hostPlatform, destination(o), opts.signal, sending(opts));
    return {};
  },
};
