/**
 * A stage's files on disk for RUN: the Snapshotter seam (prepare a writable snapshot on a chain,
 * read its change, commit it as a layer's folder), overlayfs over layer folders and the copy path,
 * the layer folders themselves, and how a layer is laid out as one.
 */
export * from './snapshotter.js';
export { copySnapshotter } from './copy-snapshotter.js';
export { overlaySnapshotter } from './overlay-snapshotter.js';
export { LayerFolders, type LayerFoldersOptions } from './layer-folders.js';
export { Snapshots } from './snapshots.js';
export { commitLayerDir, extractLayerDir, layerDirPath, overlayLowers, type ExtractOptions, type EntriesFolder, type LayerDir } from './layer-dirs.js';
export { materialize } from './rootfs-copy.js';
