/** Running RUN: the Runtime seam (runc, crun), the OCI spec, overlay mounts, layer folders, the copy path, stale runs. */
export { syncFileSystem } from './commands.js';
export * from './layer-dirs.js';
export * from './oci-cli.js';
export * from './oci-spec.js';
export * from './overlay.js';
export * from './rootfs-copy.js';
export * from './runtime.js';
export * from './sandbox.js';
export * from './stale-runs.js';
export * from './workspace.js';
export * from './special-files.js';
export { cannotRun, parseBinfmtEntry, binfmtMatches, type BinfmtEntry } from './emulation.js';
export * from './network.js';
export * from './seccomp.js';
export { bindBeneath } from './safe-bind.js';
export * from './cdi.js';
