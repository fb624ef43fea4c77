/**
 * The seam every output implements (ggcr's sinks: tarball, layout, remote, daemon): what it is
 * for a progress line, what can be checked before the build (paths, names, addresses: found in
 * milliseconds, not after the build), and the write, from the image and a blob reader. A new
 * output is a module with its Sink and one line in index.ts's table (the compiler asks for it).
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { KeelError } from '../errors.js';
import type { BlobReader, BuiltArtifact, BuiltImage, LayerEntry, Platform } from '../image/index.js';
import type { PushResult, RegistryOptions } from '../registry/index.js';
import type { Destination } from './destination.js';

/** The names an image output gives the image, instead of the build's tags (buildx's `name=`). */
export interface Named {
  readonly names?: readonly string[];
}

/** A file (written beside it and renamed into place) or a stream the caller owns (`-o -`: stdout). */
export type FileOrStream = { readonly path: string; readonly stream?: never } | { readonly stream: Writable; readonly path?: never };

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

export interface OutputResult {
  readonly pushed?: readonly PushResult[];
  /** What a Docker daemon said it loaded (`Loaded image: app:1`). */
  readonly loaded?: readonly string[];
  /** What the output could not do as asked (a Docker store given one platform of several). */
  readonly warnings?: readonly string[];
}

export interface Sink<O extends BuildOutput> {
  /** What the output is, for a progress line: `exporting to image archive out.tar`. */
  describe(o: O, tags: readonly string[]): string;
  /** Everything that can be seen wrong before the build; E_BUILD_INPUT. */
  check(o: O, tags: readonly string[]): Promise<void>;
  write(artifact: BuiltArtifact, o: O, opts: OutputOptions): Promise<OutputResult>;
  /** An image export: its step ends with BuildKit's lines (exporting manifest, naming to). */
  readonly image: boolean;
}

/** Where a file output goes: the file, or the caller's stream. */
export const destination = (o: FileOrStream): Destination => (o.stream !== undefined ? { stream: o.stream } : { path: o.path });
/** A file output's name in a progress line. */
export const shownAs = (o: FileOrStream): string => (o.stream !== undefined ? 'stdout' : o.path);
/** Bytes written, as a progress id. */
export const sending = (opts: OutputOptions) => (bytes: number): void => opts.progress?.('sending tarball', bytes, undefined, false);

/** The folder an output file or folder will be put in: it must exist and be writable; a file must not be a folder. */
export async function checkWritableParent(path: string, kind: 'file' | 'folder'): Promise<void> {
  const what = `the output ${kind}`;
  const parent = dirname(path);
  const s = await stat(parent).catch(() => undefined);
  if (s === undefined) throw new KeelError('E_BUILD_INPUT', `${what} ${path}: the folder ${parent} does not exist`);
  if (!s.isDirectory()) throw new KeelError('E_BUILD_INPUT', `${what} ${path}: ${parent} is not a folder`);
  await access(parent, constants.W_OK).catch(() => {
    throw new KeelError('E_BUILD_INPUT', `${what} ${path}: the folder ${parent} cannot be written`);
  });
  const there = await stat(path).catch(() => undefined);
  if (there?.isDirectory() === true && kind === 'file') throw new KeelError('E_BUILD_INPUT', `${what} ${path} is a folder`);
}
