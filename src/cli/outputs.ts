/**
 * `-o/--output`, `--load` and `--push` as buildx reads them (buildx's build/opts and util/buildflags
 * parse CSV `type=...,dest=...,name=...`), turned into keel's outputs. Every attribute is known or
 * refused: nothing is silently ignored. keel differs in one place, and says so in the help text and
 * the README: `-o PATH` (no `=`) writes keel's image archive, where buildx writes a local folder.
 */
import type { Writable } from 'node:stream';
import type { BuildOutput, Compression } from '../index.js';
import { UsageError } from './usage-error.js';

/** Where a CLI output's bytes go, before the CLI turns `-` into its stdout. */
export type CliOutput =
  | { readonly kind: 'archive'; readonly dest: string; readonly names?: readonly string[] }
  | { readonly kind: 'oci-dir'; readonly dest: string; readonly names?: readonly string[] }
  | { readonly kind: 'docker'; readonly names?: readonly string[] }
  | { readonly kind: 'registry'; readonly names?: readonly string[]; readonly insecure: boolean }
  | { readonly kind: 'rootfs-tar'; readonly dest: string }
  | { readonly kind: 'rootfs-dir'; readonly dest: string };

export interface ParsedOutputs {
  readonly outputs: readonly CliOutput[];
  /** `compression=` of the outputs (one for the whole build: layers are compressed as they are made). */
  readonly compression?: Compression;
  /** `compression-level=` of the outputs (one for the whole build too). */
  readonly level?: number;
  /** An image output without push (buildx keeps it in its builder; keel in its cache). */
  readonly cacheOnly: boolean;
}

/** The attributes each type takes (buildx's exporters' names). */
const ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  docker: ['dest', 'name', 'compression', 'compression-level', 'oci-mediatypes', 'rewrite-timestamp'],
  oci: ['dest', 'name', 'tar', 'compression', 'compression-level', 'oci-mediatypes', 'rewrite-timestamp'],
  'oci-dir': ['dest', 'name', 'compression', 'compression-level', 'oci-mediatypes', 'rewrite-timestamp'],
  image: ['name', 'push', 'compression', 'compression-level', 'oci-mediatypes', 'registry.insecure', 'rewrite-timestamp'],
  registry: ['name', 'push', 'compression', 'compression-level', 'oci-mediatypes', 'registry.insecure', 'rewrite-timestamp'],
  tar: ['dest'],
  local: ['dest'],
};

/** Split a CSV line as Go's encoding/csv does for one record: commas, with double-quoted fields. */
function csvFields(spec: string): string[] {
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i] as string;
    if (quoted) {
      if (c === '"' && spec[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) throw new UsageError(`--output ${spec}: a quote is not closed`);
  fields.push(cur);
  return fields;
}

const bool = (spec: string, key: string, v: string): boolean => {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new UsageError(`--output ${spec}: ${key} wants true or false, not ${JSON.stringify(v)}`);
};

/** buildx's compression names, as keel's. */
export const COMPRESSIONS: Readonly<Record<string, Compression>> = { gzip: 'gzip', zstd: 'zstd', uncompressed: 'none' };

/** One `-o` value. `-o PATH` is keel's image archive; `-o -` that archive on stdout. */
export function parseOutputSpec(spec: string): { output?: CliOutput; compression?: Compression; level?: number; cacheOnly?: true } {
  if (!spec.includes('=')) return { output: { kind: 'archive', dest: spec } };
  const attrs = new Map<string, string>();
  for (const field of csvFields(spec)) {
    const i = field.indexOf('=');
    if (i <= 0) throw new UsageError(`--output ${spec}: ${JSON.stringify(field)} is not KEY=VALUE`);
    attrs.set(field.slice(0, i).trim().toLowerCase(), field.slice(i + 1));
  }
  const type = attrs.get('type');
  if (type === undefined) throw new UsageError(`--output ${spec}: type= is required (docker, oci, image, registry, tar, local)`);
  const known = ATTRIBUTES[type];
  if (known === undefined) throw new UsageError(`--output ${spec}: unknown type ${JSON.stringify(type)} (docker, oci, image, registry, tar, local)`);
  for (const key of attrs.keys()) {
    if (key !== 'type' && !known.includes(key)) throw new UsageError(`--output ${spec}: type=${type} does not take ${key}= (it takes ${known.join(', ')})`);
  }
  const names = attrs.get('name')?.split(',').map((n) => n.trim()).filter((n) => n !== '');
  const named = names === undefined || names.length === 0 ? {} : { names };
  const c = attrs.get('compression');
  const compression = c === undefined ? undefined : COMPRESSIONS[c];
  if (c !== undefined && compression === undefined) throw new UsageError(`--output ${spec}: compression wants gzip, zstd or uncompressed, not ${JSON.stringify(c)}`);
  const levelText = attrs.get('compression-level');
  if (levelText !== undefined && !/^[0-9]+$/.test(levelText)) throw new UsageError(`--output ${spec}: compression-level wants a whole number, not ${JSON.stringify(levelText)}`);
  const withCompression = { ...(compression === undefined ? {} : { compression }), ...(levelText === undefined ? {} : { level: Number(levelText) }) };
  const media = attrs.get('oci-mediatypes');
  if (media !== undefined && !bool(spec, 'oci-mediatypes', media)) throw new UsageError(`--output ${spec}: keel writes OCI media types only (docker load, registries and containerd take them)`);
  const rewrite = attrs.get('rewrite-timestamp');
  if (rewrite !== undefined && !bool(spec, 'rewrite-timestamp', rewrite)) {
    throw new UsageError(`--output ${spec}: keel always sets layer times (to SOURCE_DATE_EPOCH where given); --preserve-timestamps keeps the sources' times`);
  }
  const dest = attrs.get('dest');
  const needDest = (): string => {
    if (dest === undefined || dest === '') throw new UsageError(`--output ${spec}: dest= is required for type=${type} (dest=- writes to stdout)`);
    return dest;
  };
  switch (type) {
    case 'docker':
      return { output: dest === undefined ? { kind: 'docker', ...named } : { kind: 'archive', dest: needDest(), ...named }, ...withCompression };
    case 'oci':
      if (attrs.has('tar') && !bool(spec, 'tar', attrs.get('tar') as string)) return { output: { kind: 'oci-dir', dest: needDest(), ...named }, ...withCompression };
      return { output: { kind: 'archive', dest: needDest(), ...named }, ...withCompression };
    case 'oci-dir':
      return { output: { kind: 'oci-dir', dest: needDest(), ...named }, ...withCompression };
    case 'image':
    case 'registry': {
      const push = type === 'registry' || bool(spec, 'push', attrs.get('push') ?? 'false');
      if (!push) return { cacheOnly: true, ...withCompression };
      const insecure = bool(spec, 'registry.insecure', attrs.get('registry.insecure') ?? 'false');
      return { output: { kind: 'registry', ...named, insecure }, ...withCompression };
    }
    case 'tar':
      return { output: { kind: 'rootfs-tar', dest: needDest() } };
    default: // local
      if (needDest() === '-') throw new UsageError(`--output ${spec}: type=local writes a folder; type=tar,dest=- writes the files to stdout`);
      return { output: { kind: 'rootfs-dir', dest: needDest() } };
  }
}

/** Every `-o`, plus `--load` (type=docker) and `--push` (type=image,push=true), as buildx combines them. */
export function parseOutputs(specs: readonly string[], load: boolean, push: boolean): ParsedOutputs {
  const outputs: CliOutput[] = [];
  const compressions = new Set<Compression>();
  const levels = new Set<number>();
  let cacheOnly = false;
  for (const spec of specs) {
    const o = parseOutputSpec(spec);
    if (o.output !== undefined) outputs.push(o.output);
    if (o.compression !== undefined) compressions.add(o.compression);
    if (o.level !== undefined) levels.add(o.level);
    if (o.cacheOnly === true) cacheOnly = true;
  }
  if (load && !outputs.some((o) => o.kind === 'docker')) outputs.push({ kind: 'docker' });
  if (push && !outputs.some((o) => o.kind === 'registry')) outputs.push({ kind: 'registry', insecure: false });
  if (compressions.size > 1) throw new UsageError(`--output: one compression for all outputs (layers are compressed once), not ${[...compressions].join(' and ')}`);
  if (outputs.filter((o) => 'dest' in o && o.dest === '-').length > 1) throw new UsageError('--output: only one output can go to stdout');
  if (levels.size > 1) throw new UsageError(`--output: one compression-level for all outputs, not ${[...levels].join(' and ')}`);
  const [compression] = compressions;
  const [level] = levels;
  return { outputs, ...(compression === undefined ? {} : { compression }), ...(level === undefined ? {} : { level }), cacheOnly: cacheOnly && outputs.length === 0 };
}

/** keel's outputs for the library: `-` becomes the given stdout, the daemon's address its DOCKER_HOST. */
export function toBuildOutputs(outputs: readonly CliOutput[], stdout: Writable, dockerHost: string | undefined): BuildOutput[] {
  return outputs.map((o): BuildOutput => {
    const names = 'names' in o && o.names !== undefined ? { names: o.names } : {};
    const to = (dest: string): { path: string } | { stream: typeof stdout } => (dest === '-' ? { stream: stdout } : { path: dest });
    switch (o.kind) {
      case 'archive':
        return { type: 'oci-archive', ...to(o.dest), ...names };
      case 'oci-dir':
        return { type: 'oci-dir', path: o.dest, ...names };
      case 'docker':
        return { type: 'docker', ...(dockerHost === undefined ? {} : { host: dockerHost }), ...names };
      case 'registry':
        return { type: 'registry', ...names };
      case 'rootfs-tar':
        return { type: 'rootfs-tar', ...to(o.dest) };
      case 'rootfs-dir':
        return { type: 'rootfs-dir', path: o.dest };
    }
  });
}
