/** Running RUN: the Runtime seam (runc, crun), the OCI spec and its sandbox, the run's scratch folder, stale runs. The folders a RUN runs on are the snapshotter's (src/snapshot). */
export { command, quietly, syncFileSystem, type CommandOptions } from './commands.js';
export * from './oci-cli.js';
export * from './oci-spec.js';
export * from './runtime.js';
export * from './sandbox.js';
export * from './stale-runs.js';
export * from './workspace.js';
export { cannotRun, parseBinfmtEntry, binfmtMatches, type BinfmtEntry } from './emulation.js';
export * from './network.js';
export * from './seccomp.js';
export { bindBeneath } from './safe-bind.js';
export * from './cdi.js';
