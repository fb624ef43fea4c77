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
  return { config, configBlob, manifest, manifestBlob: jsonBlob(manifest), layers };
}
