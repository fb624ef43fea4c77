/**
 * The snapshotter on overlayfs (SPEC.md section 7), the path taken where overlayfs mounts: the
 * stage's layer folders (layer-folders.ts) stacked read-only under a fresh upper folder in the
 * bundle, so nothing of the tree is written out; the upper folder, read as BuildKit reads it
 * (overlay.ts), becomes the new layer's folder when committed.
 */
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { KeelError } from '../errors.js';
import type { FsNode } from '../tree/index.js';
import { commitLayerDir, layerDirPath, overlayLowers } from './layer-dirs.js';
import type { LayerFolders } from './layer-folders.js';
import { EMPTY_LOWER, mountOverlay, overlayChanges, removeStubs, type OverlayChanges } from './overlay.js';
import type { ActiveSnapshot, Snapshotter } from './snapshotter.js';

export function overlaySnapshotter(folders: LayerFolders): Snapshotter {
  return {
    kind: 'overlay',
    async prepare(parent, bundle, signal): Promise<ActiveSnapshot> {
      const lowers = overlayLowers(await folders.stack(parent.layers, signal)).map((dir) => basename(dir)); // topmost first
      if (lowers.length === 0) {
        await mkdir(join(folders.root, EMPTY_LOWER), { recursive: true }); // FROM scratch: nothing below
        lowers.push(EMPTY_LOWER);
      }
      const upper = join(bundle, 'upper');
      await mkdir(upper, { recursive: true });
      await mkdir(join(bundle, 'work'));
      const ov = await mountOverlay(folders.root, lowers, upper, join(bundle, 'work'), join(bundle, 'rootfs'), folders.sandbox.overlayOptions);
      let found: OverlayChanges | undefined;
      return {
        rootfs: ov.merged,
        parent: { folder: ov.before },
        async changes(mountTargets, mtime) {
          found = await overlayChanges(ov, mountTargets);
          // the layer is read from the upper folder alone: the views are unmounted meanwhile
          void ov.unmount().catch(() => undefined);
          for (const path of found.fs.paths()) {
            const node = found.fs.get(path) as FsNode;
            found.fs.set(path, { ...node, mtime: mtime(node.mtime) });
          }
          return { paths: found.paths, fs: found.fs, whole: false };
        },
        async commit(layer) {
          await ov.unmount();
          if (found === undefined) throw new KeelError('E_INTERNAL', 'a snapshot committed before its changes were read');
          await removeStubs(upper, found);
          const dir = layerDirPath(folders.root, layer);
          await commitLayerDir(upper, dir, folders.trash);
          return dir;
        },
        remove: () => ov.unmount(),
      };
    },
  };
}
