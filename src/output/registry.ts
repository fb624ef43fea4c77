/**
 * The `registry` output: the image pushed to the registry each tag names (registry/push.ts), with
 * blobs mounted from the base image's repository where the registry is the same.
 */
import { KeelError } from '../errors.js';
import { parseReference, type BlobReader, type BuiltArtifact } from '../image/index.js';
import { pushImage, type PushResult, type RegistryOptions } from '../registry/index.js';

export async function pushOutput(artifact: BuiltArtifact, tags: readonly string[], blobs: BlobReader, opts: RegistryOptions & { readonly baseName?: string }): Promise<PushResult[]> {
  if (tags.length === 0) throw new KeelError('E_BUILD_INPUT', 'pushing needs at least one tag naming the registry (-t registry/name:tag)');
  const { baseName, ...registry } = opts;
  const base = baseName === undefined ? undefined : parseReference(baseName);
  return pushImage(artifact, tags, blobs, { ...registry, ...(base === undefined ? {} : { mountFrom: base }) });
}
