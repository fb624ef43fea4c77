/** build(): Dockerfile and context to an image; its options, result, events and errors. */
export { build, buildOn } from './build.js';
export { DockerfileError } from './errors.js';
export type { Host } from './host.js';
export type { BuildOptions, BuildOutput, BuildResult, CacheExport, CacheImport, NamedContext } from './options.js';
export type { BuildEvent } from './progress.js';
export { diskUsage, prune, parseSize, type CacheUsage, type CacheUnit, type PruneOptions, type UnitKind } from './cache-admin.js';
