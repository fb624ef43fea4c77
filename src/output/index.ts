/**
 * Outputs: where a built image goes. One module per output, chosen by one switch; the builder
 * returns an image and never writes it itself (as ggcr's tarball, layout and remote are sinks).
 */
import type { Writable } from 'node:stream';
import { assertNever } from '../errors.js';
import { imagePlatform, imagesOf, loadableImage, platformString, type BlobReader, type BuiltArtifact, type BuiltImage, type LayerEntry, type Platform } from '../image/index.js';
import type { PushResult, RegistryOptions, Transfer } from '../registry/index.js';
import type { Destination } from './destination.js';
import { writeOciArchive } from './oci-archive.js';
import { writeOciDir } from './oci-dir.js';
export { ociDirTarget } from './oci-dir.js';
import { pushOutput } from './registry.js';

export { writeOciArchive, writeOciDir, pushOutput, type Destination };

/** Docker's default socket, where DOCKER_HOST is not set. */
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

// the outputs only some builds use are loaded when one asks: every module loaded costs every
// build's start (a no-change build is ~100 ms, a third of it loading keel)
/* eslint-disable @typescript-eslint/no-require-imports */
const dockerDaemon = (): typeof import('./docker-daemon.js') => require('./docker-daemon.js') as typeof import('./docker-daemon.js');
const rootfs = (): typeof import('./rootfs.js') => require('./rootfs.js') as typeof import('./rootfs.js');
/* eslint-enable @typescript-eslint/no-require-imports */

/** A Docker daemon's address (`unix://…` or `tcp://…`) checked, before the build. */
export const checkDockerHost = (host: string): void => void dockerDaemon().dockerEndpoint(host);

/** The names an image output gives the image, instead of the build's tags (buildx's `name=`). */
interface Named {
  readonly names?: readonly string[];
}

/** A file (written beside it and renamed into place) or a stream the caller owns (`-o -`: stdout). */
type FileOrStream = { readonly path: string; readonly stream?: never } | { readonly stream: Writable; readonly path?: never };

export type BuildOutput =
  /** One tar that `docker load` takes and that is an OCI image layout (buildx's docker and oci exporters). */
  | ({ readonly type: 'oci-archive' } & FileOrStream & Named)
  /** An OCI image layout folder (buildx's `type=oci,tar=false`). */
  | ({ readonly type: 'oci-dir'; readonly path: string } & Named)
  /** Into a Docker daemon, as `docker load` does (`--load`). @default host unix:///var/run/docker.sock */
  | ({ readonly type: 'docker'; readonly host?: string } & Named)
  /** Push to the registry of each name (every name must name one, e.g. `127.0.0.1:5000/app:1`). */
  | ({ readonly type: 'registry' } & Named)
  /** The image's root file system as one tar (buildx's `type=tar`). */
  | ({ readonly type: 'rootfs-tar' } & FileOrStream)
  /** The image's root file system into a folder, merged with what is there (buildx's `type=local`). */
  | { readonly type: 'rootfs-dir'; readonly path: string };

export interface OutputOptions {
  readonly tags: readonly string[];
  readonly blobs: BlobReader;
  /** For pushes: the registry settings, and the base image's name (its blobs are mounted, not uploaded). */
  readonly registry: RegistryOptions & { readonly baseName?: string };
  /** An image's root file system, for the rootfs outputs (read only when one asks). */
  readonly rootfs: (image: BuiltImage) => Promise<readonly LayerEntry[]>;
  /** The platform a Docker image store that holds no index gets, of an index: the host's. */
  readonly hostPlatform: Platform;
  /** Who the `rootfs-dir` output's files belong to: the caller (as buildx's local exporter writes them). */
  readonly owner?: { readonly uid: number; readonly gid: number };
  readonly signal?: AbortSignal;
  /** Bytes written (`id` 'sending tarball', or a pushed blob's digest), as they go and once `done`. */
  readonly progress?: (id: string, current: number, total: number | undefined, done: boolean) => void;
}

/** What an output is, for a progress line: `image archive out.tar`, `the Docker daemon`. */
export function describeOutput(o: BuildOutput, tags: readonly string[]): string {
  const file = (x: FileOrStream): string => (x.stream !== undefined ? 'stdout' : x.path);
  switch (o.type) {
    case 'oci-archive':
      return `exporting to image archive ${file(o)}`;
    case 'oci-dir':
      return `exporting to OCI layout ${o.path}`;
    case 'docker':
      return 'exporting to the Docker daemon';
    case 'registry':
      return `pushing ${(o.names ?? tags).join(', ')}`;
    case 'rootfs-tar':
      return `exporting root file system to ${file(o)}`;
    case 'rootfs-dir':
      return `exporting root file system to ${o.path}`;
    default:
      return assertNever(o);
  }
}

export interface OutputResult {
  readonly pushed?: readonly PushResult[];
  /** What a Docker daemon said it loaded (`Loaded image: app:1`). */
  readonly loaded?: readonly string[];
  /** What the output could not do as asked (a Docker store given one platform of several). */
  readonly warnings?: readonly string[];
}

const destination = (o: FileOrStream): Destination => (o.stream !== undefined ? { stream: o.stream } : { path: o.path });

/** Write `artifact` to `output`; a push answers with what each name now points at. */
export async function writeOutput(artifact: BuiltArtifact, output: BuildOutput, opts: OutputOptions): Promise<OutputResult> {
  const sending = (bytes: number): void => opts.progress?.('sending tarball', bytes, undefined, false);
  switch (output.type) {
    case 'oci-archive':
      await writeOciArchive(artifact, output.names ?? opts.tags, opts.blobs, opts.hostPlatform, destination(output), opts.signal, sending);
      return {};
    case 'oci-dir':
      await writeOciDir(artifact, output.names ?? opts.tags, opts.blobs, output.path);
      return {};
    case 'docker': {
      const loaded = await dockerDaemon().loadIntoDocker(artifact, output.names ?? opts.tags, opts.blobs, opts.hostPlatform, output.host ?? DEFAULT_DOCKER_HOST, opts.signal, sending);
      if (artifact.kind === 'image') return { loaded };
      // buildx's docker exporter refuses an index; keel loads the host's platform and says so
      const chosen = platformString(imagePlatform(loadableImage(artifact, opts.hostPlatform)));
      return { loaded, warnings: [`the Docker daemon's image store holds one platform per name: loaded ${chosen} only (an OCI archive or a push keeps every platform)`] };
    }
    case 'registry': {
      const progress = opts.progress;
      const registry = progress === undefined ? opts.registry : { ...opts.registry, onTransfer: (t: Transfer) => progress(t.digest, t.current, t.total, t.done) };
      return { pushed: await pushOutput(artifact, output.names ?? opts.tags, opts.blobs, registry) };
    }
    case 'rootfs-tar':
      await rootfs().writeRootfsTar(await rootfsEntries(artifact, opts), destination(output), opts.signal, sending);
      return {};
    case 'rootfs-dir':
      await rootfs().writeRootfsDir(await rootfsEntries(artifact, opts), output.path, opts.owner, opts.signal);
      return {};
    default:
      return assertNever(output);
  }
}

/** The root file system of the image, or of each platform's image in a folder named for it (`linux_arm64`). */
async function rootfsEntries(artifact: BuiltArtifact, opts: OutputOptions): Promise<LayerEntry[]> {
  const parts = await Promise.all(imagesOf(artifact).map(async (image) => ({
    folder: platformString(imagePlatform(image)).replaceAll('/', '_'),
    entries: await opts.rootfs(image),
  })));
  return rootfs().rootfsOfPlatforms(parts);
}
