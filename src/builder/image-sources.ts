/**
 * Where a base image comes from, one implementation each, as go-containerregistry gives an image
 * from a tarball, a layout or a remote behind one interface: an image archive on disk (`docker
 * save` or OCI, given as `baseImages`), an OCI layout folder (a named context's
 * `oci-layout://`), or a registry (pulled once, its layers unpacked while they download where
 * asked). Sources (sources.ts) picks one by name and shares each load across the build's stages;
 * a source only loads.
 */
import { join } from 'node:path';
import type { BlobStore } from '../cache/index.js';
import { formatReference, parseReference, readImageArchive, type Layer, type Platform } from '../image/index.js';
import { pullImage, RegistryError, type PullPolicy, type RegistryOptions, type Transfer } from '../registry/index.js';
import { baseFromImage } from './base-image.js';
import { stageFromImage, type StageState } from './stage.js';
import type { LayerUnpacker } from './unpack-base.js';

export interface ImageSource {
  /** The image for `platform`, as a stage's starting state; `onTransfer` hears a download's bytes. */
  load(platform: Platform, onTransfer?: (t: Transfer) => void): Promise<StageState>;
}

/** An image archive file (`docker save`, or an OCI archive). */
export function archiveSource(path: string, store: BlobStore): ImageSource {
  return { load: async (platform) => stageFromImage(baseFromImage(await readImageArchive(path, store, platform))) };
}

/** An OCI layout folder, the image its index tags `tag` (or its only image). */
export function ociLayoutSource(path: string, tag: string | undefined, store: BlobStore): ImageSource {
  return { load: async (platform) => stageFromImage(baseFromImage(await readImageArchive(path, store, platform, tag))) };
}

export interface RegistrySourceOptions {
  readonly store: BlobStore;
  readonly cacheDir: string;
  readonly pull?: PullPolicy;
  readonly registry: RegistryOptions;
  /** How the pulled layers may be unpacked while they download (unpack-base.ts). */
  readonly unpackWhilePulling?: LayerUnpacker;
}

/** An image in a registry, by reference (a tag pulled before is used as stored unless `pull` says otherwise). */
export function registrySource(name: string, opts: RegistrySourceOptions): ImageSource {
  return {
    async load(platform, onTransfer) {
      const ref = parseReference(name);
      const unpack = opts.unpackWhilePulling;
      // a layer is copied only once its download starts, after `succeeded` is set below
      let succeeded: Promise<boolean> = Promise.resolve(false);
      const pulling = pullImage(ref, opts.store, platform, {
        refsDir: join(opts.cacheDir, 'refs'),
        ...(opts.pull === undefined ? {} : { pull: opts.pull }),
        ...opts.registry,
        ...(onTransfer === undefined ? {} : { onTransfer }),
        ...(unpack === undefined ? {} : { copyLayer: (layer: Layer, index: number) => unpack(layer, index, succeeded) }),
      });
      succeeded = pulling.then(() => true, () => false);
      const pulled = await pulling.catch((e: unknown) => {
        throw namingImage(e, formatReference(ref));
      });
      const { digest: _, ...named } = ref;
      return stageFromImage(baseFromImage(pulled), { name: formatReference(named), digest: pulled.digest });
    },
  };
}

/** A registry's error about an image, naming the image (`docker.io/library/nope:latest: registry docker.io is not reachable`). */
function namingImage(e: unknown, name: string): unknown {
  if (!(e instanceof RegistryError) || e.message.includes(name)) return e;
  return new RegistryError(e.code as ConstructorParameters<typeof RegistryError>[0], `${name}: ${e.message}`, e.status, e.diagnostics, { cause: e });
}
