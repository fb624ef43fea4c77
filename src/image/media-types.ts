/** OCI media types keel writes (opencontainers/image-spec media-types.md). */
export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export type LayerMediaType = typeof MEDIA_TYPES.layer | typeof MEDIA_TYPES.layerGzip | typeof MEDIA_TYPES.layerZstd;

/** How a layer of this media type is compressed. */
export function layerCompression(mediaType: string): 'gzip' | 'zstd' | 'none' {
  return mediaType === MEDIA_TYPES.layerGzip ? 'gzip' : mediaType === MEDIA_TYPES.layerZstd ? 'zstd' : 'none';
}
