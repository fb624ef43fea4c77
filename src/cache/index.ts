/** The blob store, the step cache, the file hasher and where the cache lives. */
export * from './blob-store.js';
export * from './file-hasher.js';
export * from './location.js';
export * from './step-cache.js';
export * from './cache-dir.js';
export * from './diff-ids.js';
export * from './atomic.js';
export * from './usage.js';
export * from './leases.js';
export * from './prune.js';
export * from './cache-manifest.js';
