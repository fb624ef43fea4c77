/** build(): Dockerfile and context to an image; its options, result, events and errors. */
export { build, buildOn } from './build.js';
export { DockerfileError } from './errors.js';
export { checkDockerfile, type CheckDockerfileOptions, type DockerfileCheck } from './check-context.js';
export type { Host } from './host.js';
export { ENTITLEMENTS, isEntitlement, type Entitlement } from './entitlements.js';
export type { BuildOptions, BuildOutput, BuildResult, CacheExport, CacheImport, NamedContext } from './options.js';
export type { BuildEvent } from './progress.js';
export type { CacheUsage, CacheUnit, PruneOptions, UnitKind } from './cache-admin.js';
import { cacheAdmin } from './lazy-modules.js';

// the cache's administration, loaded when called: a build never needs it at its start
type Admin = ReturnType<typeof cacheAdmin>;
const admin = cacheAdmin;
/** What the cache folder holds (`keel du`). */
export const diskUsage: Admin['diskUsage'] = (opts) => admin().diskUsage(opts);
/** Remove from the cache what is not needed (`keel prune`). */
export const prune: Admin['prune'] = (opts) => admin().prune(opts);
/** `10GB`, `512m` as bytes (docker's --keep-storage). */
export const parseSize: Admin['parseSize'] = (text) => admin().parseSize(text);
