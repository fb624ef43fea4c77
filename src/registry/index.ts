/** The OCI distribution client: pull, push, credentials. Depends on image/ roles, not on cache/. */
export * from './client.js';
export * from './http.js';
export * from './credentials.js';
export * from './pull.js';
export * from './push.js';
export * from './errors.js';
