/**
 * Outputs: where a built image goes. One module per output, chosen by one switch; the builder
 * returns an image and never writes it itself (as ggcr's tarball, layout and remote are sinks).
 */
import { assertNever } from '../errors.js';
import type { BlobReader, BuiltImage } from '../image/index.js';
import type { PushResult, RegistryOptions } from '../registry/index.js';
import { writeOciArchive } from './oci-archive.js';
import { writeOciDir } from './oci-dir.js';
import { pushOutput } from './registry.js';

export { writeOciArchive, writeOciDir, pushOutput };

export type BuildOutput =
  | { readonly type: 'oci-archive'; readonly path: string }
  | { readonly type: 'oci-dir'; readonly path: string }
  /** Push to the registry of each tag (every tag must name one, e.g. `127.0.0.1:5000/app:1`). */
  | { readonly type: 'registry' };

export interface OutputOptions {
  readonly tags: readonly string[];
  readonly blobs: BlobReader;
  /** For pushes: the registry settings, and the base image's name (its blobs are mounted, not uploaded). */
  readonly registry: RegistryOptions & { readonly baseName?: string };
  readonly signal?: AbortSignal;
}

/** Write `image` to `output`; a push answers with what each tag now points at. */
export async function writeOutput(image: BuiltImage, output: BuildOutput, opts: OutputOptions): Promise<{ readonly pushed?: readonly PushResult[] }> {
  switch (output.type) {
    case 'oci-archive':
      await writeOciArchive(image, opts.tags, opts.blobs, output.path, opts.signal);
      return {};
    case 'oci-dir':
      await writeOciDir(image, opts.tags, opts.blobs, output.path);
      return {};
    case 'registry':
      return { pushed: await pushOutput(image, opts.tags, opts.blobs, opts.registry) };
    default:
      return assertNever(output);
  }
}
