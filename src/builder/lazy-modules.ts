/**
 * Modules only some builds use, loaded when one does: every module loaded costs every build's
 * start (bench/RESULTS.md), so a cache hit never loads the remote cache's or the collector's code.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
export const remoteCache = (): typeof import('./remote-cache.js') => require('./remote-cache.js') as typeof import('./remote-cache.js');
export const cacheAdmin = (): typeof import('./cache-admin.js') => require('./cache-admin.js') as typeof import('./cache-admin.js');
/* eslint-enable @typescript-eslint/no-require-imports */
