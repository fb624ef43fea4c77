/**
 * Fresh runners: a base image's bottom layer is unpacked into its layer folder while it downloads,
 * in the same pass as the download (containerd's unpacker works the same way), when the build has
 * a RUN to stack it under and RUN goes on overlayfs here. The layers above it are extracted from
 * the store when a RUN first needs them (each needs the folders below it for its parents' metadata).
 */
import type { Writable } from 'node:stream';
import type { Layer } from '../image/index.js';
import type { RunWorkspace } from '../runtime/index.js';
import type { Plan } from './plan.js';

/** Where a pulled layer's bytes are copied to as they download (`pulled`: resolves when the pull ends, true on success). */
export type LayerUnpacker = (layer: Layer, index: number, pulled: Promise<boolean>) => Writable | undefined;

/** The unpacker for this build, or undefined when no RUN would use layer folders. */
export async function baseUnpacker(ws: RunWorkspace, plan: Plan, signal: AbortSignal): Promise<LayerUnpacker | undefined> {
  if (!plan.stages.some((s) => s.instructions.some((i) => i.kind === 'RUN'))) return undefined;
  try {
    await ws.prepare();
    if (!(await ws.useOverlay(1))) return undefined;
  } catch {
    return undefined; // RUN will say why, if the build gets there
  }
  return (layer, index, pulled) => (index === 0 ? ws.layerDirWhileDownloading(layer, pulled, signal) : undefined);
}
