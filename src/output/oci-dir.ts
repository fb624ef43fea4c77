/**
 * The `oci-dir` output: an OCI image layout folder. A missing folder is written beside its
 * destination and renamed into place. An existing one is written into, as buildx's oci exporter
 * with tar=false does, and only when it is empty or already an OCI layout (it holds `oci-layout`):
 * the blobs it lacks are added (each written beside its name and renamed), then index.json is
 * replaced at once. Any other folder is refused, never emptied: `dest=.` or `dest=$HOME` must not
 * delete anything.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, link, lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { KeelError } from '../errors.js';
import { blobList, hexOf, indexJson, OCI_LAYOUT, tempBeside, type BlobReader, type BuiltArtifact } from '../image/index.js';
import { checkWritableParent, type BuildOutput, type Sink } from './sink.js';

/** Whether `path` may take an OCI layout: 'new' (missing), 'into' (empty, or a layout); else E_BUILD_INPUT. */
export async function ociDirTarget(path: string): Promise<'new' | 'into'> {
  const st = await lstat(path).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  });
  if (st === undefined) return 'new';
  if (!st.isDirectory()) throw new KeelError('E_BUILD_INPUT', `the output folder ${path} is not a folder${st.isSymbolicLink() ? ' (a symbolic link)' : ''}`);
  const names = await readdir(path);
  if (names.length === 0 || names.includes('oci-layout')) return 'into';
  throw new KeelError('E_BUILD_INPUT', `the output folder ${path} is neither empty nor an OCI layout (no oci-layout file): keel writes an OCI layout only into a new, empty or layout folder, and never empties one`);
}

/**
 * Write an OCI layout folder at `path`. Layer blobs are hard links into the blob store where the
 * file system allows it (cheap for large images), else copies (streamed from a store without files).
 */
export async function writeOciDir(artifact: BuiltArtifact, tags: readonly string[], blobs: BlobReader, path: string): Promise<void> {
  if ((await ociDirTarget(path)) === 'new') {
    const tmp = tempBeside(path);
    try {
      await writeLayout(artifact, tags, blobs, tmp);
      await rename(tmp, path);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return;
  }
  await writeLayout(artifact, tags, blobs, path);
}

/** The layout's files into folder `root`: blobs it lacks, then oci-layout, then index.json (each renamed into place). */
async function writeLayout(artifact: BuiltArtifact, tags: readonly string[], blobs: BlobReader, root: string): Promise<void> {
  const dir = join(root, 'blobs', 'sha256');
  await mkdir(dir, { recursive: true });
  const atomically = async (target: string, write: (tmp: string) => Promise<void>): Promise<void> => {
    const tmp = tempBeside(target);
    try {
      await write(tmp);
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  };
  for (const b of blobList(artifact)) {
    const target = join(dir, hexOf(b.digest));
    // a blob the folder has at its size is kept: same name, same bytes (an OCI layout is content-addressed)
    if ((await stat(target).then((s) => s.isFile() && s.size === b.size, () => false))) continue;
    await atomically(target, async (tmp) => {
      if (b.bytes !== undefined) await writeFile(tmp, b.bytes);
      else if (blobs.path !== undefined && (await blobs.stat(b.digest)) !== undefined) {
        const from = blobs.path(b.digest);
        await link(from, tmp).catch(() => copyFile(from, tmp));
      } else await pipeline(await blobs.open(b.digest), createWriteStream(tmp));
    });
  }
  await atomically(join(root, 'oci-layout'), (tmp) => writeFile(tmp, OCI_LAYOUT));
  await atomically(join(root, 'index.json'), (tmp) => writeFile(tmp, indexJson(artifact, tags)));
}

export const ociDirSink: Sink<Extract<BuildOutput, { type: 'oci-dir' }>> = {
  image: true,
  describe: (o) => `exporting to OCI layout ${o.path}`,
  check: async (o) => {
    await checkWritableParent(o.path, 'folder');
    await ociDirTarget(o.path); // a folder that is neither empty nor a layout: refused before any work
  },
  write: async (artifact, o, opts) => {
    await writeOciDir(artifact, o.names ?? opts.tags, opts.blobs, o.path);
    return {};
  },
};
