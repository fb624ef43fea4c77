/**
 * keel: parse Dockerfiles and build OCI images without a Docker daemon.
 * The public surface is documented in README.md and shared/SPEC.md section 1.
 */
export * from './parser/index.js';
export { KeelError, isKeelError, KEEL_ERROR_CODES, type KeelErrorCode } from './errors.js';
export { build, type BuildOptions, type BuildResult, type BuildOutput } from './builder/build.js';
export type { BuildEvent } from './builder/progress.js';
export { DockerfileError } from './builder/errors.js';
export { RunError } from './builder/run.js';
