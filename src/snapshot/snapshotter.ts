/**
 * The seam between a step and the files it runs on, as containerd's snapshotter interface
 * (snapshots/snapshotter.go: Prepare, Mounts, Commit, View, Remove) is for BuildKit: a RUN asks for
 * a writable snapshot on its stage's chain, runs its command on the snapshot's root folder, then
 * reads the change and commits it as the next layer's folder. The runtime is given that folder and
 * mounts nothing of the stage itself. Two implementations: overlayfs over layer folders
 * (overlay-snapshotter.ts) and a written-out copy where overlayfs cannot run (copy-snapshotter.ts).
 */
import type { ChainLayer, Layer } from '../image/index.js';
import type { StageFs } from '../tree/index.js';

/**
 * What a snapshot is prepared on: a stage's layers, bottom first (a pending one's folder is used
 * as soon as it is there, before its blob is stored), and its tree when asked for one.
 */
export interface ParentChain {
  readonly layers: readonly ChainLayer[];
  /** The stage's tree, a copy of the snapshot's own to change (asked only by the copy path). */
  readonly tree: () => Promise<StageFs>;
}

/** The parent's files as a snapshot shows them read-only: a folder, or a tree. */
export type ParentView = { readonly folder: string } | { readonly tree: StageFs };

/**
 * What the command changed: the changed paths (sorted; a deleted one is absent from `fs`), and a
 * tree holding each changed node with its parent folders; `whole`: that tree is the stage's whole
 * tree after the command (the copy path), else only the change.
 */
export interface SnapshotChanges {
  readonly paths: readonly string[];
  readonly fs: StageFs;
  readonly whole: boolean;
}

/** A writable snapshot, mounted at `rootfs` for the command. */
export interface ActiveSnapshot {
  /** The folder the command runs on (the bundle's rootfs/). */
  readonly rootfs: string;
  /** The parent's files (USER is looked up in its /etc/passwd). */
  readonly parent: ParentView;
  /**
   * After the command: what it changed, each node's mtime passed through `mtime` (the time the
   * layer will carry). `mountTargets` (tree paths) and the runtime's stubs are no change. Call once.
   */
  changes(mountTargets: readonly string[], mtime: (seconds: number) => number): Promise<SnapshotChanges>;
  /**
   * Keep the change as the folder of `layer` (the layer made from the change), after changes().
   * Returns that folder, where the change's file bodies now are, or undefined when the snapshotter
   * keeps no folder (the copy path: the change lives in the tree changes() returned).
   */
  commit(layer: Layer): Promise<string | undefined>;
  /** Unmount and drop what was not committed; idempotent, and safe after commit(). */
  remove(): Promise<void>;
}

export interface Snapshotter {
  readonly kind: 'overlay' | 'copy';
  /** A writable snapshot on `parent` at `<bundle>/rootfs` (the bundle folder is the caller's). */
  prepare(parent: ParentChain, bundle: string, signal?: AbortSignal): Promise<ActiveSnapshot>;
}
