/**
 * The parts one build shares across its stages and steps, made once at its start: the machine's
 * (the cache folder's stores, RUN's executor and the snapshots it runs on), then, once the
 * Dockerfile is read, the build's own (what it reads, where events go).
 */
import { join } from 'node:path';
import { BlobStore, DiffIdRecord, FileHasher, StepCache } from '../cache/index.js';
import { proxiedFetch, proxyFromEnv, type Fetch, type RegistryOptions } from '../registry/index.js';
import { DEFAULT_CDI_DIRS, ociRuntime, readCdiSpecs, RunWorkspace } from '../runtime/index.js';
import { LayerFolders, Snapshots } from '../snapshot/index.js';
import { CacheMountLeases } from './cache-mounts.js';
import type { CheckedOptions } from './build-options.js';
import type { BuildInput } from './build-input.js';
import { chooseRuntime, type Host } from './host.js';
import type { BuildOptions } from './options.js';
import { Sources } from './sources.js';
import type { BuildServices } from './step-context.js';
import { baseUnpacker } from './unpack-base.js';
import { VerifiedLayers } from './verified-layers.js';

/** What a build uses of the machine and its cache folder, whatever the Dockerfile. */
export interface MachineParts {
  readonly blobs: BlobStore;
  readonly hasher: FileHasher;
  readonly verified: VerifiedLayers;
  readonly workspace: RunWorkspace;
  /** The layer folders RUN's snapshots stack. */
  readonly folders: LayerFolders;
  readonly snapshots: Snapshots;
}

export function machineParts(host: Host, checked: CheckedOptions, opts: BuildOptions): MachineParts {
  const { cacheDir, limits, buildPlatform } = checked;
  const blobs = new BlobStore(cacheDir, host.pid);
  const verified = new VerifiedLayers(new DiffIdRecord(cacheDir), blobs, limits);
  // a Runtime object (a test's, or an embedder's executor) as given; a name: runc or crun by their CLI
  const given = opts.runtime;
  const workspace = new RunWorkspace({
    cacheDir,
    runtime: typeof given === 'object' ? () => given : () => ociRuntime(chooseRuntime(given, host.env), {
      host: { arch: host.arch, kernel: host.kernel, cgroupV2: host.cgroupV2, ...(host.boundingCaps === undefined ? {} : { boundingCaps: host.boundingCaps }) },
      ...(host.sandbox.userNamespace ? { stateRoot: join(cacheDir, 'runc') } : {}),
    }),
    sandbox: host.sandbox,
    privileged: host.uid === 0,
    pid: host.pid,
    hostPlatform: buildPlatform,
    binfmtDir: host.binfmtDir,
  });
  const folders = new LayerFolders({
    cacheDir,
    sandbox: host.sandbox,
    rootfs: host.env.KEEL_RUN_ROOTFS === 'copy' ? 'copy' : 'overlay',
    blobs,
    limits,
    verify: (layer, signal) => verified.verify(layer, signal),
    learned: (layer, diffId) => verified.learned(layer, diffId),
    scratchPath: (prefix) => workspace.scratchPath(prefix),
  });
  // a test's or an embedder's snapshotter, if given, for every RUN
  const snapshots = new Snapshots(folders, opts.snapshotter);
  return { blobs, hasher: new FileHasher(cacheDir), verified, workspace, folders, snapshots };
}

/** The build's services (step-context.ts) and the registry options its pulls and pushes use. */
export function buildServices(host: Host, checked: CheckedOptions, opts: BuildOptions, machine: MachineParts, input: BuildInput, signal: AbortSignal): { services: BuildServices; registry: RegistryOptions } {
  const { cacheDir, limits, times, cacheFrom } = checked;
  const { blobs, hasher, verified, workspace, folders, snapshots } = machine;
  const httpFetch = proxiedFetch(opts.proxy ?? proxyFromEnv(host.env));
  const registry = registryOptions(opts, signal, httpFetch);
  // a base's layer is unpacked while it downloads for the RUNs to come, unless a shared cache is
  // imported: then the RUNs are likely hits, which need no layer folder
  const unpacker = cacheFrom.length > 0 || !input.runs ? undefined : baseUnpacker(workspace, folders, signal);
  const sources = new Sources({
    contextDir: input.contextDir,
    ...(input.dockerfilePath === undefined ? {} : { dockerfilePath: input.dockerfilePath }),
    blobs, cacheDir, baseImages: opts.baseImages ?? {}, registry, ...(opts.pull === undefined ? {} : { pull: opts.pull }),
    verify: (layer) => verified.verify(layer, signal),
    limits,
    ...(unpacker === undefined ? {} : { unpackWhilePulling: unpacker }),
    ...(opts.namedContexts === undefined ? {} : { namedContexts: opts.namedContexts }),
  });
  // whether overlayfs mounts here is asked at the first step the cache lacks, while that step runs
  // (a RUN then needs the answer soon); a fully cached build never mounts anything
  const probe = host.uid === 0 && opts.snapshotter === undefined && input.runs ? (): void => void folders.usable(1) : undefined;
  if (opts.noCache === true) probe?.();
  const services: BuildServices = {
    opts, cacheDir, blobs, stepCache: new StepCache(cacheDir, blobs, probe), hasher, verified, times, sources, workspace, snapshots, cacheMounts: new CacheMountLeases(),
    cdiDevices: onceAsync(() => readCdiSpecs(opts.cdiSpecDirs ?? DEFAULT_CDI_DIRS)),
    compression: opts.compression ?? 'gzip', ...(opts.compressionLevel === undefined ? {} : { compressionLevel: opts.compressionLevel }),
    limits, noCache: opts.noCache === true, escape: input.escape, signal, fetch: httpFetch,
    emit: (e) => opts.onProgress?.(e),
  };
  return { services, registry };
}

function registryOptions(opts: BuildOptions, signal: AbortSignal, httpFetch: Fetch): RegistryOptions {
  return {
    fetch: httpFetch,
    ...(opts.insecureRegistries === undefined ? {} : { insecureRegistries: opts.insecureRegistries }),
    ...(opts.auth === undefined ? {} : { auth: opts.auth }),
    ...(opts.dockerConfigDir === undefined ? {} : { dockerConfigDir: opts.dockerConfigDir }),
    ...(opts.uploadChunkSize === undefined ? {} : { uploadChunkSize: opts.uploadChunkSize }),
    signal,
  };
}

/** `fn` called once, when first asked (its failure asked again). */
function onceAsync<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn().catch((e: unknown) => {
    p = undefined;
    throw e;
  }));
}
