/** The in-memory tree of a stage's files, and applying layer archives to it. */
export * from './apply-tree.js';
export * from './decompress.js';
export * from './stage-fs.js';
export * from './snapshot.js';
export * from './entries.js';
export * from './diff-id.js';
