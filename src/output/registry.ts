/**
 * The `registry` output: the image pushed to the registry each tag names (registry/push.ts), with
 * blobs mounted from the base image's repository where the registry is the same.
 */
import { KeelError } from '../errors.js';
import { parseReference, type BlobReader, type BuiltArtifact } from '../image/index.js';
import { pushImage, type PushResult, type RegistryOptions, type Transfer } from '../registry/index.js';
import type { BuildOutput, Sink } from './sink.js';

export async function pushOutput(artifact: BuiltArtifact, tags: readonly string[], blobs: BlobReader, opts: RegistryOptions & { readonly baseName?: string }): Promise<PushResult[]> {
  if (tags.length === 0) throw new KeelError('E_BUILD_INPUT', 'pushing needs at least one tag naming the registry (-t registry/name:tag)');
  const { baseName, ...registry } = opts;
  const base = baseName === undefined ? undefined : parseReference(baseName);
  return pushImage(artifact, tags, blobs, { ...registry, ...(base === undefined ? {} : { mountFrom: base }) });
}

export const registrySink: Sink<Extract<BuildOutput, { type: 'registry' }>> = {
  image: true,
  describe: (o, tags) => `pushing ${(o.names ?? tags).join(', ')}`,
  check: async (o, tags) => {
    if ((o.names ?? tags).length === 0) throw new KeelError('E_BUILD_INPUT', 'a push needs a name: give a tag (-t registry/name:tag) or the output a name');
  },
  write: async (artifact, o, opts) => {
    const progress = opts.progress;
    const registry = progress === undefined ? opts.registry : { ...opts.registry, onTransfer: (t: Transfer) => progress(t.digest, t.current, t.total, t.done) };
    return { pushed: await pushOutput(artifact, o.names ?? opts.tags, opts.blobs, registry) };
  },
};
