/** OCI images: digests, media types, references, configs and manifests, layers, content roles, archives and layouts. */
export * from './content.js';
export * from './digest.js';
export * from './image.js';
export * from './layer.js';
export * from './layout.js';
export * from './media-types.js';
export * from './platform.js';
export * from './read-archive.js';
export * from './reference.js';
export * from './tar-reader.js';
export { encodeHeader as encodeTarHeader, END_OF_ARCHIVE, padding as tarPadding } from './tar-writer.js';
