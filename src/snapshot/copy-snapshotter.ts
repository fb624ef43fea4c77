/**
 * The snapshotter where overlayfs cannot run (SPEC.md section 7's fallback): the stage's tree is
 * written out as the root folder, and the change is found by walking it against the tree
 * (rootfs-copy.ts). The change is applied to the tree, which a committed snapshot is; the folder
 * goes with the bundle.
 */
import { join } from 'node:path';
import { diffRootfs, materialize } from './rootfs-copy.js';
import type { ActiveSnapshot, Snapshotter } from './snapshotter.js';

export const copySnapshotter: Snapshotter = {
  kind: 'copy',
  async prepare(parent, bundle): Promise<ActiveSnapshot> {
    const fs = await parent.tree();
    const rootfs = join(bundle, 'rootfs');
    const written = await materialize(fs, rootfs);
    return {
      rootfs,
      parent: { tree: fs },
      async changes(mountTargets, mtime) {
        const changes = await diffRootfs(fs, rootfs, written, mountTargets);
        for (const change of changes) {
          if (change.node === undefined) fs.deleteTree(change.path);
          else fs.set(change.path, { ...change.node, mtime: mtime(change.node.mtime) });
        }
        return { fs, paths: changes.map((change) => change.path).sort(), whole: true };
      },
      commit: () => Promise.resolve(undefined),
      remove: () => Promise.resolve(), // the written-out folder goes with the bundle
    };
  },
};
