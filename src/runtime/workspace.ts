/**
 * One build's place to run RUN: its scratch folder `<cacheDir>/run/<pid>-<random>/` (bundles, bind
 * and secret files; removed when the build ends), the layer folders under `<cacheDir>/layers*`, the
 * runtime, and what a build learns once: that stale runs were reaped, whether overlayfs mounts on
 * the cache's file system (asked of that file system by each build, never remembered by the
 * process), and each layer folder (one extraction per diffID, awaited by every stage that needs it).
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { PassThrough, type Writable } from 'node:stream';
import { platformString, type BlobReader, type Digest, type Layer, type Platform } from '../image/index.js';
import { checkCanRun } from './emulation.js';
import type { UnpackLimits } from '../tree/index.js';
import { ensureLayerDir, layerDirFromStream, type LayerDir } from './layer-dirs.js';
import { MAX_OVERLAY_LAYERS, overlayUsable } from './overlay.js';
import type { Runtime } from './runtime.js';
import type { Sandbox } from './sandbox.js';
import { reapStaleRuns, removeRunDir } from './stale-runs.js';

export interface WorkspaceOptions {
  readonly cacheDir: string;
  /** The runtime, made when the first RUN needs it (a build without RUN needs none installed). */
  readonly runtime: () => Runtime;
  readonly sandbox: Sandbox;
  /** Whether this process is root in its user namespace (it may mount and start containers). */
  readonly privileged: boolean;
  /** 'copy': always write the tree out (the plain-folder path), never overlayfs. */
  readonly rootfs: 'overlay' | 'copy';
  readonly blobs: BlobReader;
  /** How much a layer may unpack to. */
  readonly limits: UnpackLimits;
  /** Resolves once a layer's claimed diffID is its content's: a layer folder is named by it. */
  readonly verify: (layer: Layer, signal?: AbortSignal) => Promise<void>;
  /** A blob of a layer, verified against its digest, was found to hold `diffId` (while it downloaded). */
  readonly learned: (layer: Layer, diffId: Digest) => Promise<void>;
  /** This process's id, in scratch folder names and container ids (stale-runs.ts reaps by it). */
  readonly pid: number;
  /** The platform this machine runs natively; a RUN for another needs an emulator (emulation.ts). */
  readonly hostPlatform: Platform;
  /** Where binfmt_misc's registrations are read. */
  readonly binfmtDir: string;
}

export class RunWorkspace {
  readonly layersRoot: string;
  private readonly scratch: string;
  private counter = 0;
  /** Whether anything was put in the scratch folder (a build without RUN leaves nothing to clean). */
  private used = false;
  private made: Runtime | undefined;
  private ready: Promise<void> | undefined;
  private overlay: Promise<boolean> | undefined;
  private hint: Promise<boolean> | undefined;
  private readonly layerDirs = new Map<string, Promise<LayerDir>>();
  private readonly runnable = new Map<string, Promise<void>>();

  constructor(private readonly opts: WorkspaceOptions) {
    this.layersRoot = join(opts.cacheDir, opts.sandbox.layersFolder);
    this.scratch = join(opts.cacheDir, 'run', `${opts.pid}-${randomBytes(6).toString('hex')}`);
  }

  get sandbox(): Sandbox {
    return this.opts.sandbox;
  }

  get runtime(): Runtime {
    this.made ??= this.opts.runtime();
    return this.made;
  }

  /** A fresh path in the scratch folder (`bundle-3`, `secret-4`). */
  scratchPath(prefix: string): string {
    this.used = true;
    return join(this.scratch, `${prefix}-${++this.counter}`);
  }

  /** A container id stale-runs.ts can tell the owner of: `keel-<pid>-<n>-<ms>`. */
  containerId(): string {
    return `keel-${this.opts.pid}-${++this.counter}-${Date.now()}`;
  }

  /**
   * What builds killed in the middle of a RUN left (their containers, mounts and scratch folders),
   * reaped once per build, at its start: a look at `<cacheDir>/run` when nothing was left.
   */
  reapStale(): Promise<void> {
    this.ready ??= reapStaleRuns(join(this.opts.cacheDir, 'run'), this.runtime, this.opts.pid);
    return this.ready;
  }

  /** Before the first container: root (or a user namespace) is there, and what killed builds left is reaped. */
  prepare(): Promise<void> {
    if (!this.opts.privileged) {
      return Promise.reject(new KeelError('E_RUN_SETUP', 'RUN needs root, or a user namespace of your own: run `unshare --user --map-root-user --map-auto --mount keel build …` (with ranges for your user in /etc/subuid and /etc/subgid); a Dockerfile without RUN builds without either'));
    }
    return this.reapStale();
  }

  /** Resolves when a RUN for `platform` can execute here (natively or emulated); E_EMULATOR names what is missing. */
  canRun(platform: Platform): Promise<void> {
    const key = platformString(platform);
    let checked = this.runnable.get(key);
    if (checked === undefined) {
      checked = checkCanRun(platform, this.opts.hostPlatform, this.opts.binfmtDir);
      this.runnable.set(key, checked);
    }
    return checked;
  }

  /** Whether a RUN on `layers` layers goes on overlayfs (else on a written-out copy). */
  async useOverlay(layers: number): Promise<boolean> {
    if (this.opts.rootfs === 'copy' || layers > MAX_OVERLAY_LAYERS) return false;
    this.used = true;
    this.overlay ??= overlayUsable(this.scratch, this.opts.sandbox.overlayOptions).then(async (usable) => {
      // what the next build may guess from while it probes (overlayLikely)
      if (usable !== (await this.lastProbe())) await writeFile(this.probeHint, usable ? 'yes' : 'no').catch(() => undefined); // torn: read as no
      return usable;
    });
    return this.overlay;
  }

  /**
   * Whether overlayfs probably mounts here: what the last build's probe found on this cache, a
   * guess to start work on while this build's probe runs (layer folders a RUN will stack), never
   * a reason to skip the probe. A wrong guess costs folders nothing uses.
   */
  async overlayLikely(layers: number): Promise<boolean> {
    return this.opts.rootfs !== 'copy' && layers <= MAX_OVERLAY_LAYERS && (await this.lastProbe());
  }

  /** Beside the sandbox's layer folders (`<cacheDir>/layers.overlay-probe`): a root build and one in a user namespace probe apart. */
  private get probeHint(): string {
    return `${this.layersRoot}.overlay-probe`;
  }

  private lastProbe(): Promise<boolean> {
    this.hint ??= readFile(this.probeHint, 'utf8').then((t) => t === 'yes', () => false);
    return this.hint;
  }

  /**
   * The layer's folder, extracted once (concurrent stages await the same extraction). `lowers`:
   * the folders of the layers below it, topmost first.
   */
  layerDir(layer: Layer, lowers: readonly string[], signal?: AbortSignal): Promise<LayerDir> {
    let dir = this.layerDirs.get(layer.diffId);
    if (dir === undefined) {
      dir = ensureLayerDir(this.layersRoot, this.opts.blobs, layer, lowers, this.opts.sandbox.overlayXattr, this.opts.verify(layer, signal), this.opts.limits, signal);
      this.layerDirs.set(layer.diffId, dir);
      dir.catch(() => this.layerDirs.delete(layer.diffId)); // a failed extraction is tried again by the next asker
    }
    return dir;
  }

  /**
   * Where the bytes of a bottom layer go while they download: its folder is made from them in the
   * same pass (layerDirFromStream). `pulled` resolves when the pull ends, true when it succeeded:
   * only then is the diffID computed from those bytes recorded for the blob (`learned`), and a
   * folder the download did not give is extracted from the store as usual.
   */
  layerDirWhileDownloading(layer: Layer, pulled: Promise<boolean>, signal?: AbortSignal): Writable | undefined {
    if (this.layerDirs.has(layer.diffId)) return undefined;
    const input = new PassThrough();
    const made = (async (): Promise<LayerDir> => {
      const computed = await layerDirFromStream(this.layersRoot, layer, input, this.opts.sandbox.overlayXattr, this.opts.limits, signal).catch(() => undefined);
      if ((await pulled) && computed !== undefined) await this.opts.learned(layer, computed);
      return ensureLayerDir(this.layersRoot, this.opts.blobs, layer, [], this.opts.sandbox.overlayXattr, this.opts.verify(layer, signal), this.opts.limits, signal);
    })();
    this.layerDirs.set(layer.diffId, made);
    made.catch(() => this.layerDirs.delete(layer.diffId)); // asked again after a failed pull: fails again, as it should
    return input;
  }

  /** Where folders no build needs wait to be deleted with the cache's other garbage (`rm -rf` of it is safe at any time). */
  get trash(): string {
    return join(this.opts.cacheDir, 'trash');
  }

  /** Remove the scratch folder, unmounting whatever a failed RUN left mounted in it. */
  close(): Promise<void> {
    return this.used ? removeRunDir(this.scratch) : Promise.resolve();
  }
}
