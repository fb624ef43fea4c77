/**
 * Fresh runners: a base image's bottom layer is unpacked into its layer folder while it downloads,
 * in the same pass as the download (containerd's unpacker works the same way), when the build has
 * a RUN to stack it under and RUN goes on overlayfs here. The layers above it are extracted from
 * the store when a RUN first needs them (each needs the folders below it for its parents' metadata).
 */
import type { Writable } from 'node:stream';
import type { Layer } from '../image/index.js';
import type { RunWorkspace } from '../runtime/index.js';
import type { LayerFolders } from '../snapshot/index.js';

/**
 * Where a pulled layer's bytes are copied to as they download (`pulled`: resolves when the pull
 * ends, true on success); asked only when a download starts, so a build that finds its base
 * stored pays nothing.
 */
export type LayerUnpacker = (layer: Layer, index: number, pulled: Promise<boolean>) => Promise<Writable | undefined>;

/** The unpacker for a build with a RUN to use layer folders (build-input.ts `runs`). */
export function baseUnpacker(ws: RunWorkspace, folders: LayerFolders, signal: AbortSignal): LayerUnpacker {
  return async (layer, index, pulled) => {
    if (index !== 0) return undefined;
    try {
      await ws.prepare();
      if (!(await folders.usable(1))) return undefined;
    } catch {
      return undefined; // RUN will say why, if the build gets there
    }
    return folders.whileDownloading(layer, pulled, signal);
  };
}
