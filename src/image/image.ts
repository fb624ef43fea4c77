/**
 * OCI image config and manifest (opencontainers/image-spec config.md, manifest.md), and the
 * canonical JSON keel serialises them with: keys sorted at every level, no whitespace. The same
 * image therefore always has the same bytes, and so the same digest.
 */
import type { Digest } from './digest.js';
import { sha256 } from './digest.js';
import { MEDIA_TYPES } from './media-types.js';
import type { Layer } from './layer.js';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface HealthConfig {
  readonly Test: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
  readonly Retries?: number;
}

/** The `config` object of an image config: what a container runs with. */
export interface ContainerConfig {
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly Volumes?: Readonly<Record<string, Record<string, never>>>;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
  readonly Healthcheck?: HealthConfig;
  readonly Shell?: readonly string[];
  readonly OnBuild?: readonly string[];
  readonly ArgsEscaped?: boolean;
}

export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

export interface ImageConfig extends Platform {
  readonly created?: string;
  readonly author?: string;
  readonly config: ContainerConfig;
  readonly rootfs: { readonly type: 'layers'; readonly diff_ids: readonly Digest[] };
  readonly history: readonly HistoryEntry[];
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
}

export interface Manifest {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MEDIA_TYPES.manifest;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/** A serialised JSON document with its digest: what a manifest or config is on disk. */
export interface JsonBlob {
  readonly bytes: Buffer;
  readonly digest: Digest;
  readonly size: number;
}

export function jsonBlob(value: unknown): JsonBlob {
  const bytes = Buffer.from(canonicalJson(value));
  return { bytes, digest: sha256(bytes), size: bytes.length };
}

/** An image ready to be written: its manifest, config and layers. */
export interface BuiltImage {
  readonly kind: 'image';
  readonly config: ImageConfig;
  readonly configBlob: JsonBlob;
  readonly manifest: Manifest;
  readonly manifestBlob: JsonBlob;
  readonly layers: readonly Layer[];
}

export function assembleImage(config: ImageConfig, layers: readonly Layer[], annotations?: Readonly<Record<string, string>>): BuiltImage {
  const configBlob = jsonBlob(config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(annotations === undefined || Object.keys(annotations).length === 0 ? {} : { annotations }),
  };
  return { kind: 'image', config, configBlob, manifest, manifestBlob: jsonBlob(manifest), layers };
}

export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MEDIA_TYPES.index;
  readonly manifests: readonly Descriptor[];
}

/**
 * Images of one build for several platforms, under one name: an OCI image index naming one
 * manifest per platform (image-spec image-index.md), each descriptor with its `platform`.
 */
export interface BuiltIndex {
  readonly kind: 'index';
  /** One image per platform, in the order the platforms were asked for. */
  readonly images: readonly BuiltImage[];
  readonly index: ImageIndex;
  readonly indexBlob: JsonBlob;
}

/** What a build gives its outputs: one image, or an index of one image per platform. */
export type BuiltArtifact = BuiltImage | BuiltIndex;

/** The platform an image's config says it is for. */
export const imagePlatform = (image: BuiltImage): Platform => ({
  os: image.config.os, architecture: image.config.architecture, ...(image.config.variant === undefined ? {} : { variant: image.config.variant }),
});

export function assembleIndex(images: readonly BuiltImage[]): BuiltIndex {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: images.map((i) => ({ mediaType: MEDIA_TYPES.manifest, digest: i.manifestBlob.digest, size: i.manifestBlob.size, platform: imagePlatform(i) })),
  };
  return { kind: 'index', images, index, indexBlob: jsonBlob(index) };
}

/** What a name points at: the image's manifest, or the index. */
export function topDescriptor(a: BuiltArtifact): Descriptor {
  return a.kind === 'image'
    ? { mediaType: MEDIA_TYPES.manifest, digest: a.manifestBlob.digest, size: a.manifestBlob.size }
    : { mediaType: MEDIA_TYPES.index, digest: a.indexBlob.digest, size: a.indexBlob.size };
}

/** The images of an artifact: the one, or each platform's. */
export const imagesOf = (a: BuiltArtifact): readonly BuiltImage[] => (a.kind === 'image' ? [a] : a.images);
