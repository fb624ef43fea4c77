/**
 * A build's layer folders under `<cacheDir>/layers*` (layer-dirs.ts lays each out), the lower
 * folders of its overlay snapshots: one extraction per diffID, awaited by every stage that needs
 * it, each named by its diffID only once verified; and whether overlayfs mounts on the cache's
 * file system (asked of that file system by each build, never remembered by the process).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { isPending, type BlobReader, type ChainLayer, type Digest, type Layer, type LayerEntry } from '../image/index.js';
import type { Sandbox } from '../runtime/index.js';
import type { StageFs, UnpackLimits } from '../tree/index.js';
import { ensureLayerDir, layerDirFromEntries, layerDirFromStream, madeLayerDir, overlayLowers, type EntriesFolder, type LayerDir } from './layer-dirs.js';
import { MAX_OVERLAY_LAYERS, overlayUsable } from './overlay.js';

export interface LayerFoldersOptions {
  readonly cacheDir: string;
  /** The sandbox RUN runs in: a root build and one in a user namespace keep folders apart (their overlay xattrs differ). */
  readonly sandbox: Sandbox;
  /** 'copy': never overlayfs (every snapshot is a written-out copy). */
  readonly rootfs: 'overlay' | 'copy';
  /** The blob store; `prefetch` starts fetching blobs that are only fetchable (an imported cache's) in the background. */
  readonly blobs: BlobReader & { prefetch(digests: readonly Digest[]): void };
  /** How much a layer may unpack to. */
  readonly limits: UnpackLimits;
  /** Resolves once a layer's claimed diffID is its content's: a layer folder is named by it. */
  readonly verify: (layer: Layer, signal?: AbortSignal) => Promise<void>;
  /** A blob of a layer, verified against its digest, was found to hold `diffId` (while it downloaded). */
  readonly learned: (layer: Layer, diffId: Digest) => Promise<void>;
  /** A fresh path in the build's scratch folder (where the overlayfs probe mounts). */
  readonly scratchPath: (prefix: string) => string;
}

export class LayerFolders {
  readonly root: string;
  private overlay: Promise<boolean> | undefined;
  private hint: Promise<boolean> | undefined;
  private readonly dirs = new Map<string, Promise<LayerDir>>();

  constructor(private readonly opts: LayerFoldersOptions) {
    this.root = join(opts.cacheDir, opts.sandbox.layersFolder);
  }

  get sandbox(): Sandbox {
    return this.opts.sandbox;
  }

  /** Where folders no build needs wait to be deleted with the cache's other garbage (`rm -rf` of it is safe at any time). */
  get trash(): string {
    return join(this.opts.cacheDir, 'trash');
  }

  /** Whether a snapshot on `layers` layers goes on overlayfs (else on a written-out copy). */
  usable(layers: number): Promise<boolean> {
    if (this.opts.rootfs === 'copy' || layers > MAX_OVERLAY_LAYERS) return Promise.resolve(false);
    this.overlay ??= overlayUsable(this.opts.scratchPath('overlay-probe'), this.opts.sandbox.overlayOptions).then(async (usable) => {
      // what the next build may guess from while it probes (likely)
      if (usable !== (await this.lastProbe())) await writeFile(this.probeHint, usable ? 'yes' : 'no').catch(() => undefined); // torn: read as no
      return usable;
    });
    return this.overlay;
  }

  /** Resolves once a probe started by usable() has ended (and written its hint): a build waits for it before it returns. */
  async settled(): Promise<void> {
    await this.overlay?.catch(() => undefined);
  }

  /**
   * Whether overlayfs probably mounts here: what the last build's probe found on this cache, a
   * guess to start work on while this build's probe runs (layer folders a RUN will stack), never
   * a reason to skip the probe. A wrong guess costs folders nothing uses.
   */
  async likely(layers: number): Promise<boolean> {
    return this.opts.rootfs !== 'copy' && layers <= MAX_OVERLAY_LAYERS && (await this.lastProbe());
  }

  /** Beside the sandbox's layer folders (`<cacheDir>/layers.overlay-probe`): a root build and one in a user namespace probe apart. */
  private get probeHint(): string {
    return `${this.root}.overlay-probe`;
  }

  private lastProbe(): Promise<boolean> {
    this.hint ??= readFile(this.probeHint, 'utf8').then((t) => t === 'yes', () => false);
    return this.hint;
  }

  /**
   * The folders of a stack of layers, bottom first, each extracted once, side by side (a fresh
   * runner with a shared cache has a stack of layers to unpack: their inflating and writing
   * overlap). A layer takes the metadata of parent folders it does not name from the folders
   * below it once those are in place. The blobs of an imported cache are fetched all at once.
   */
  async stack(layers: readonly ChainLayer[], signal?: AbortSignal): Promise<LayerDir[]> {
    this.opts.blobs.prefetch(layers.flatMap((l) => (isPending(l) ? [] : [l.digest])));
    await mkdir(this.root, { recursive: true });
    const dirs: Array<Promise<LayerDir>> = [];
    for (const l of layers) {
      const below = Promise.all(dirs).then(overlayLowers);
      below.catch(() => undefined); // a folder already in place never asks; a failure below is the stack's
      dirs.push(this.folder(l, below, signal));
    }
    // every extraction ends before the stack answers, a failed one too: none writes on after it
    const done = await Promise.allSettled(dirs);
    const failed = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return done.map((d) => (d as PromiseFulfilledResult<LayerDir>).value);
  }

  /**
   * The folder of a content layer about to be written from `entries` (of `fs`), made beside it,
   * where a RUN on a chain of `layers` layers will stack it (overlayfs mounts here).
   */
  async fromEntries(layers: number, entries: readonly LayerEntry[], fs: StageFs): Promise<EntriesFolder | undefined> {
    if (!(await this.usable(layers))) return undefined;
    await mkdir(this.root, { recursive: true });
    return layerDirFromEntries(this.root, entries, fs);
  }

  /**
   * The layer's folder, extracted once (concurrent stages await the same extraction). `lowers`:
   * the folders of the layers below it, topmost first.
   */
  folder(layer: ChainLayer, lowers: readonly string[] | Promise<readonly string[]>, signal?: AbortSignal): Promise<LayerDir> {
    let dir = this.dirs.get(layer.diffId);
    if (dir === undefined) {
      // a pending layer's folder was written by this build from the entries its diffID was
      // hashed from (layers.ts contentLayer): used as it is, else extracted once the blob is stored
      dir = isPending(layer)
        ? madeLayerDir(this.root, layer).then((made) => made ?? layer.stored.then((l) => this.extract(l, lowers, signal)))
        : this.extract(layer, lowers, signal);
      this.dirs.set(layer.diffId, dir);
      dir.catch(() => this.dirs.delete(layer.diffId)); // a failed extraction is tried again by the next asker
    }
    return dir;
  }

  private extract(layer: Layer, lowers: readonly string[] | Promise<readonly string[]>, signal?: AbortSignal): Promise<LayerDir> {
    return ensureLayerDir(this.root, this.opts.blobs, layer, lowers, this.opts.sandbox.overlayXattr, this.opts.verify(layer, signal), this.opts.limits, signal);
  }

  /**
   * Where the bytes of a bottom layer go while they download: its folder is made from them in the
   * same pass (layerDirFromStream). `pulled` resolves when the pull ends, true when it succeeded:
   * only then is the diffID computed from those bytes recorded for the blob (`learned`), and a
   * folder the download did not give is extracted from the store as usual.
   */
  whileDownloading(layer: Layer, pulled: Promise<boolean>, signal?: AbortSignal): Writable | undefined {
    if (this.dirs.has(layer.diffId)) return undefined;
    const input = new PassThrough();
    const made = (async (): Promise<LayerDir> => {
      const computed = await layerDirFromStream(this.root, layer, input, this.opts.sandbox.overlayXattr, this.opts.limits, signal).catch(() => undefined);
      if ((await pulled) && computed !== undefined) await this.opts.learned(layer, computed);
      return ensureLayerDir(this.root, this.opts.blobs, layer, [], this.opts.sandbox.overlayXattr, this.opts.verify(layer, signal), this.opts.limits, signal);
    })();
    this.dirs.set(layer.diffId, made);
    made.catch(() => this.dirs.delete(layer.diffId)); // asked again after a failed pull: fails again, as it should
    return input;
  }
}
