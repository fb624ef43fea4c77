/**
 * Which snapshotter a RUN gets: the one the caller gave (`build({ snapshotter })`), else overlayfs
 * over layer folders where it mounts here and the chain fits one mount, else the copy path.
 */
import type { ChainLayer, LayerEntry } from '../image/index.js';
import { copySnapshotter } from './copy-snapshotter.js';
import type { StageFs } from '../tree/index.js';
import type { EntriesFolder } from './layer-dirs.js';
import type { LayerFolders } from './layer-folders.js';
import { overlaySnapshotter } from './overlay-snapshotter.js';
import type { Snapshotter } from './snapshotter.js';

export class Snapshots {
  private readonly overlay: Snapshotter;

  constructor(readonly folders: LayerFolders, private readonly given?: Snapshotter) {
    this.overlay = overlaySnapshotter(folders);
  }

  /** The snapshotter for a snapshot on a chain of `layers` layers. */
  async for(layers: number): Promise<Snapshotter> {
    if (this.given !== undefined) return this.given;
    return (await this.folders.usable(layers)) ? this.overlay : copySnapshotter;
  }

  /**
   * A content layer's folder made beside its blob (a COPY a RUN follows), when that RUN will go on
   * overlayfs; none with a snapshotter of the caller's.
   */
  folderFromEntries(layers: number, entries: readonly LayerEntry[], fs: StageFs): Promise<EntriesFolder | undefined> {
    return this.given === undefined ? this.folders.fromEntries(layers, entries, fs) : Promise.resolve(undefined);
  }

  /**
   * Start extracting the folders of a chain a RUN will run on, before that RUN asks (on a miss the
   * extraction runs beside the chain's check: on a fresh runner both inflate the base). Where the
   * last build found overlayfs, this starts while this build's probe runs.
   */
  async warm(layers: readonly ChainLayer[], signal?: AbortSignal): Promise<void> {
    if (this.given !== undefined) return;
    const usable = this.folders.usable(layers.length);
    if (!(await this.folders.likely(layers.length)) && !(await usable)) return;
    await this.folders.stack(layers, signal);
  }
}
