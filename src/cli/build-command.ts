/**
 * `keel build`'s flags, as `docker buildx build` spells and means them (SPEC.md section 1), and
 * the command they make. Pure: argv, the environment and the current folder in; BuildOptions plus
 * the CLI's own settings out, or a UsageError. Reading stdin and writing files is main.ts's.
 */
import { resolve } from 'node:path';
import { isEntitlement, RUNTIME_NAMES, type BuildOptions, type CacheExport, type CacheImport, type Compression, type NamedContext, type RuntimeName } from '../index.js';
import { parseFlags, type FlagSpec } from './flags.js';
import { COMPRESSIONS, parseOutputs, type CliOutput } from './outputs.js';
import { UsageError } from './usage-error.js';

export const PROGRESS_MODES = ['auto', 'plain', 'tty', 'quiet', 'rawjson'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** The `-o` forms, for the help text. */
export const OUTPUTS_HELP = `Outputs (-o):
  type=docker[,name=N]            into the Docker daemon at DOCKER_HOST (= --load)
  type=docker,dest=FILE           an archive for docker load
  type=oci,dest=FILE[,tar=false]  an OCI layout archive (or folder)
  type=image,push=true[,name=N]   push to the registry each name (or tag) names (= --push)
  type=tar,dest=FILE              the image's root file system as a tar
  type=local,dest=DIR             the image's root file system into a folder
  PATH                            keel's image archive: docker load and OCI layout in one tar
                                  (buildx writes a local folder for a bare PATH)
  -                               that archive on stdout; dest=- is stdout too
  compression=gzip|zstd|uncompressed with the image outputs`;

export const BUILD_FLAGS: readonly FlagSpec[] = [
  { name: 'file', short: 'f', kind: 'string', value: 'FILE', help: 'the Dockerfile, from the current folder (default: CONTEXT/Dockerfile;\n- reads it from stdin)' },
  { name: 'tag', short: 't', kind: 'list', value: 'NAME[:TAG]', help: 'name the image (repeatable)' },
  { name: 'build-arg', kind: 'list', value: 'KEY[=VALUE]', help: 'a build-time variable (KEY alone: from the environment)' },
  { name: 'target', kind: 'string', value: 'STAGE', help: 'build this stage' },
  { name: 'output', short: 'o', kind: 'list', value: 'SPEC', help: 'where the image goes (repeatable; see Outputs below)' },
  { name: 'load', kind: 'boolean', help: 'load the image into the Docker daemon (= -o type=docker)' },
  { name: 'push', kind: 'boolean', help: 'push to the registry each tag names (= -o type=image,push=true)' },
  { name: 'pull', kind: 'string', value: '[=POLICY]', bare: 'always', help: 'always ask registries for base images (keel: =missing|never too)' },
  { name: 'platform', kind: 'string', value: 'OS/ARCH[/VARIANT]', help: 'the target platforms (comma-separated: linux/amd64,linux/arm64);\nseveral give an image index' },
  { name: 'label', kind: 'list', value: 'KEY=VALUE', help: 'a label on the image (repeatable)' },
  { name: 'build-context', kind: 'list', value: 'NAME=VALUE', help: 'a named context for FROM/COPY --from NAME: a folder,\ndocker-image://REF or oci-layout://PATH[:TAG] (repeatable)' },
  { name: 'annotation', kind: 'list', value: 'KEY=VALUE', help: 'an annotation on the image manifest (repeatable; manifest: or\nmanifest[PLATFORM]: prefixes as buildx takes them)' },
  { name: 'network', kind: 'string', value: 'MODE', help: 'RUN\'s network when a RUN names none: default (its own, outbound\nthrough slirp4netns)|none|host (needs --allow network.host)' },
  { name: 'allow', kind: 'list', value: 'ENTITLEMENT', help: 'let RUN escape its sandbox: network.host, security.insecure, device\n(repeatable or comma-separated)' },
  { name: 'add-host', kind: 'list', value: 'HOST:IP', help: 'a line for RUN\'s /etc/hosts (repeatable)' },
  { name: 'secret', kind: 'list', value: 'id=ID,src=PATH|env=VAR', help: 'a secret for RUN --mount=type=secret (never in the image)' },
  { name: 'cache-to', kind: 'list', value: 'SPEC', help: 'export the step cache: type=registry,ref=REF[,mode=min|max] or\ntype=local,dest=DIR[,mode=min|max] (repeatable)' },
  { name: 'cache-from', kind: 'list', value: 'SPEC', help: 'import a step cache: REF, type=registry,ref=REF or type=local,src=DIR\n(repeatable; layers are fetched only when read)' },
  { name: 'no-cache', kind: 'boolean', help: 'run every step again (results are still stored)' },
  { name: 'cache-dir', kind: 'string', value: 'DIR', help: 'the cache (default $KEEL_CACHE_DIR, else ~/.cache/keel)' },
  { name: 'progress', kind: 'string', value: 'MODE', help: 'auto|plain|tty|quiet|rawjson (JSON events), on stderr' },
  { name: 'quiet', short: 'q', kind: 'boolean', help: 'print only the image ID' },
  { name: 'iidfile', kind: 'string', value: 'FILE', help: 'write the image ID (config digest) here' },
  { name: 'metadata-file', kind: 'string', value: 'FILE', help: 'write the build result\'s metadata here (buildx\'s keys)' },
  { name: 'insecure-registry', kind: 'list', value: 'HOST[:PORT]', help: 'speak plain HTTP to this registry (loopback always is)' },
  { name: 'compression', kind: 'string', value: 'gzip|zstd|none', help: 'layer compression (zstd: docker >= 23 loads it)' },
  { name: 'preserve-timestamps', kind: 'boolean', help: 'keep the sources\' mtimes in layers (default: normalised)' },
  { name: 'base-image', kind: 'list', value: 'NAME=PATH', help: 'this archive (docker save or OCI) for FROM NAME' },
  { name: 'max-parallelism', kind: 'string', value: 'N', help: 'run at most N steps at once (default: no limit, as BuildKit)' },
  { name: 'runtime', kind: 'string', value: 'runc|crun', help: 'the OCI runtime for RUN (default: runc, else crun, on PATH)' },
  { name: 'check', kind: 'boolean', help: 'run BuildKit\'s build checks instead of building (as keel check)' },
  { name: 'help', short: 'h', kind: 'boolean', help: 'print this help' },
];

/** The Dockerfile: a path, or `-` (stdin). */
export type DockerfileSource = { readonly path: string } | { readonly stdin: true } | undefined;

export interface BuildCommand {
  /** Everything but the outputs and the Dockerfile, which need stdin and stdout (main.ts). */
  readonly options: Omit<BuildOptions, 'output' | 'dockerfile' | 'context'>;
  /** The context folder, or `-`: a tar (or a Dockerfile) on stdin. */
  readonly context: string;
  readonly dockerfile: DockerfileSource;
  readonly outputs: readonly CliOutput[];
  /** `-o type=image` without push: built into the cache only, on purpose (no warning). */
  readonly cacheOnly: boolean;
  readonly progress: ProgressMode;
  readonly iidfile?: string;
  readonly metadataFile?: string;
  /** -q: print only the image ID on stdout. */
  readonly quiet: boolean;
  /** --check: the build checks, no build. */
  readonly check: boolean;
  readonly help: boolean;
}

const keyValues = (flag: string, values: readonly string[], sep = '='): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const kv of values) {
    const i = kv.indexOf(sep);
    if (i <= 0) throw new UsageError(`--${flag} wants KEY${sep}VALUE, not ${JSON.stringify(kv)}`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
};

/** `--annotation`: buildx's `manifest:` / `manifest[os/arch]:` prefixes name the manifest, which is keel's only target; index ones are refused. */
function annotations(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(keyValues('annotation', values))) {
    const m = /^(?:([a-z-]+)(?:\[[^\]]*\])?:)?(.+)$/.exec(k);
    const where = m?.[1];
    if (where !== undefined && where !== 'manifest') throw new UsageError(`--annotation ${k}: keel annotates the image manifest only (manifest:KEY=VALUE or KEY=VALUE)`);
    out[m?.[2] ?? k] = v;
  }
  return out;
}

/**
 * `--cache-to` / `--cache-from` in buildx's CSV, each attribute known or refused. `layers`: the
 * build's layer compression, which a cache's `compression=` must name (the cache holds the
 * image's own layers, compressed once).
 */
function cacheSpecs(flag: 'cache-to' | 'cache-from', values: readonly string[], cwd: string, layers: Compression): Array<CacheExport | CacheImport> {
  return values.map((spec) => {
    if (flag === 'cache-from' && !spec.includes('=')) return { type: 'registry', ref: spec };
    const attrs = new Map(spec.split(',').map((f) => [f.slice(0, f.indexOf('=')).trim(), f.slice(f.indexOf('=') + 1)] as const));
    const type = attrs.get('type') ?? 'registry';
    if (type === 'inline') {
      if (flag === 'cache-from' || attrs.size > 1) throw new UsageError(`--${flag} ${spec}: type=inline is for --cache-to, alone (import it with --cache-from IMAGE)`);
      return { type: 'inline' };
    }
    const known = type === 'registry' ? ['type', 'ref', 'mode', 'oci-mediatypes', 'image-manifest', 'ignore-error'] : type === 'local' ? ['type', flag === 'cache-to' ? 'dest' : 'src', 'mode', 'oci-mediatypes', 'image-manifest', 'ignore-error'] : undefined;
    if (known === undefined) throw new UsageError(`--${flag} ${spec}: keel takes type=registry, type=local or type=inline, not ${JSON.stringify(type)}`);
    const compression = attrs.get('compression');
    if (compression !== undefined && COMPRESSIONS[compression] !== layers) {
      throw new UsageError(`--${flag} ${spec}: the cache holds the image's own layers, compressed ${layers === 'none' ? 'uncompressed' : layers}: set their compression with -o compression=`);
    }
    for (const k of attrs.keys()) {
      if (!known.includes(k) && k !== 'compression') throw new UsageError(`--${flag} ${spec}: type=${type} does not take ${k}= (it takes ${known.slice(1).join(', ')}, compression)`);
    }
    const mode = attrs.get('mode') as 'min' | 'max' | undefined;
    if (mode !== undefined && mode !== 'min' && mode !== 'max') throw new UsageError(`--${flag} ${spec}: mode is min or max`);
    if (attrs.get('oci-mediatypes') === 'false') throw new UsageError(`--${flag} ${spec}: keel's cache uses OCI media types only`);
    const withMode: { mode?: 'min' | 'max' } = mode === undefined || flag === 'cache-from' ? {} : { mode };
    if (type === 'registry') {
      const ref = attrs.get('ref');
      if (ref === undefined || ref === '') throw new UsageError(`--${flag} ${spec}: ref= is required`);
      return { type: 'registry', ref, ...withMode };
    }
    const path = attrs.get(flag === 'cache-to' ? 'dest' : 'src');
    if (path === undefined || path === '') throw new UsageError(`--${flag} ${spec}: ${flag === 'cache-to' ? 'dest' : 'src'}= is required`);
    return flag === 'cache-to' ? { type: 'local', dest: resolve(cwd, path), ...withMode } : { type: 'local', src: resolve(cwd, path) };
  });
}

/** `--build-context NAME=VALUE`, as buildx reads VALUE: an image, an OCI layout, else a local folder. */
function namedContexts(values: readonly string[], cwd: string): Record<string, NamedContext> {
  const out: Record<string, NamedContext> = {};
  for (const [name, value] of Object.entries(keyValues('build-context', values))) {
    if (value.startsWith('docker-image://')) {
      const image = value.slice('docker-image://'.length);
      if (image === '') throw new UsageError(`--build-context ${name}: docker-image:// names no image`);
      out[name] = { image };
    } else if (value.startsWith('oci-layout://')) {
      const rest = value.slice('oci-layout://'.length);
      if (rest.includes('@')) throw new UsageError(`--build-context ${name}: oci-layout:// by digest is not supported yet; give a tag (oci-layout://PATH:TAG)`);
      // a tag after the last path component's colon
      const slash = rest.lastIndexOf('/');
      const colon = rest.indexOf(':', slash + 1);
      const path = colon < 0 ? rest : rest.slice(0, colon);
      const tag = colon < 0 ? undefined : rest.slice(colon + 1);
      out[name] = { ociLayout: resolve(cwd, path), ...(tag === undefined || tag === '' ? {} : { tag }) };
    } else if (/^(https?:\/\/|git@|git:\/\/)/.test(value) || value.startsWith('target:')) {
      throw new UsageError(`--build-context ${name}=${value}: keel takes a folder, docker-image:// or oci-layout:// (no URL, git or bake target contexts yet)`);
    } else {
      out[name] = { path: resolve(cwd, value) };
    }
  }
  return out;
}

function extraHosts(values: readonly string[]): Array<{ host: string; ip: string }> {
  return values.map((v) => {
    // docker's HOST:IP, and HOST=IP (an IPv6 address has colons of its own)
    const i = v.includes('=') ? v.indexOf('=') : v.indexOf(':');
    const host = v.slice(0, i);
    const ip = v.slice(i + 1).replace(/^\[(.*)\]$/, '$1');
    if (i <= 0 || ip === '') throw new UsageError(`--add-host wants HOST:IP, not ${JSON.stringify(v)}`);
    if (ip === 'host-gateway') throw new UsageError('--add-host: host-gateway is the Docker daemon\'s address; keel runs without one: give an IP');
    if (!/^[0-9a-fA-F.:]+$/.test(ip)) throw new UsageError(`--add-host ${v}: ${JSON.stringify(ip)} is not an IP address`);
    return { host, ip };
  });
}

function secrets(values: readonly string[], env: NodeJS.ProcessEnv): Record<string, { path: string } | { value: string }> {
  const out: Record<string, { path: string } | { value: string }> = {};
  for (const spec of values) {
    const f = new Map(spec.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
    const id = f.get('id');
    if (!id) throw new UsageError(`--secret wants id=ID,src=PATH or id=ID,env=VAR, not ${spec}`);
    const type = f.get('type');
    if (type !== undefined && type !== 'file' && type !== 'env') throw new UsageError(`--secret ${spec}: type is file or env`);
    const src = f.get('src') ?? f.get('source');
    const fromEnv = f.get('env') ?? (type === 'env' ? id : undefined);
    if (src !== undefined && type !== 'env') out[id] = { path: src };
    else if (fromEnv !== undefined && env[fromEnv] !== undefined) out[id] = { value: env[fromEnv] as string };
    else if (env[id] !== undefined) out[id] = { value: env[id] as string };
  }
  return out;
}

/** `--build-arg K=V`, or `K` alone for the environment's value (docker's). */
export function buildArgs(values: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of values) {
    const i = kv.indexOf('=');
    // `--build-arg NAME` takes the value from the environment, and is skipped when it is not set
    if (i < 0) {
      const v = env[kv];
      if (v !== undefined) out[kv] = v;
    } else out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** The registry a name points at, as docker reads the first component (a dot, a port or localhost). */
const registryHost = (name: string): string => {
  const first = name.split('/')[0] ?? '';
  return name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
};

const oneOf = <T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined => {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${flag}: want ${allowed.join(', ')}, not ${JSON.stringify(value)}`);
  return value as T;
};

export function parseBuildCommand(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): BuildCommand {
  const f = parseFlags(argv, BUILD_FLAGS);
  const help = f.booleans.has('help');
  const s = (k: string): string | undefined => f.strings.get(k);
  const l = (k: string): readonly string[] => f.lists.get(k) ?? [];
  if (!help && f.positionals.length !== 1) {
    const pull = f.strings.get('pull') === 'always' && f.positionals.some((p) => ['always', 'missing', 'never'].includes(p));
    throw new UsageError(`keel build takes exactly one CONTEXT (a folder, or - for a tar on stdin)${f.positionals.length > 1 ? `, not ${f.positionals.length}: ${f.positionals.join(' ')}` : ''}${pull ? ' (--pull is a flag alone, as docker\'s: write --pull=never)' : ''}`);
  }
  const progress = oneOf('progress', s('progress'), PROGRESS_MODES) ?? 'auto';
  const compression = oneOf('compression', s('compression'), ['gzip', 'zstd', 'none'] as const);
  const pull = oneOf('pull', s('pull'), ['always', 'missing', 'never'] as const);
  const network = oneOf('network', s('network'), ['default', 'host', 'none'] as const);
  const runtime = oneOf('runtime', s('runtime'), RUNTIME_NAMES) as RuntimeName | undefined;
  const allow = l('allow').flatMap((a) => a.split(',')).map((a) => a.trim()).filter((a) => a !== '').map((a) => {
    // buildx takes device=NAME too; keel's device entitlement is all or nothing
    const name = a.startsWith('device=') ? 'device' : a;
    if (!isEntitlement(name)) throw new UsageError(`--allow: unknown entitlement ${a} (network.host, security.insecure, device)`);
    return name;
  });
  const sde = env.SOURCE_DATE_EPOCH;
  if (sde !== undefined && sde !== '' && !/^[0-9]+$/.test(sde)) throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds, not ${sde}`);
  const parallelism = s('max-parallelism');
  if (parallelism !== undefined && !/^[1-9][0-9]*$/.test(parallelism)) throw new UsageError(`--max-parallelism: a whole number of at least 1, not ${parallelism}`);
  const outs = parseOutputs(l('output'), f.booleans.has('load'), f.booleans.has('push'));
  if (compression !== undefined && outs.compression !== undefined && compression !== outs.compression) {
    throw new UsageError(`--compression ${compression} and --output compression=${outs.compression === 'none' ? 'uncompressed' : outs.compression} disagree`);
  }
  const layerCompression: Compression | undefined = outs.compression ?? compression;
  const quiet = f.booleans.has('quiet');
  if (quiet && outs.outputs.some((o) => 'dest' in o && o.dest === '-')) throw new UsageError('-q prints the image ID on stdout, where the output goes: write the output to a file');
  const insecure = [...l('insecure-registry')];
  // `registry.insecure=true` on a push: plain HTTP to the registries it names
  for (const o of outs.outputs) if (o.kind === 'registry' && o.insecure) for (const n of o.names ?? l('tag')) insecure.push(registryHost(n));
  const file = s('file');
  const baseImages = keyValues('base-image', l('base-image'));
  const sec = secrets(l('secret'), env);
  const labels = keyValues('label', l('label'));
  const ann = annotations(l('annotation'));
  const hosts = extraHosts(l('add-host'));
  const named = namedContexts(l('build-context'), cwd);
  const cacheTo = cacheSpecs('cache-to', l('cache-to'), cwd, layerCompression ?? 'gzip') as CacheExport[];
  const cacheFrom = cacheSpecs('cache-from', l('cache-from'), cwd, layerCompression ?? 'gzip') as CacheImport[];
  const cacheDir = s('cache-dir') ?? env.KEEL_CACHE_DIR;
  const target = s('target');
  const platform = s('platform');
  const iidfile = s('iidfile');
  const metadataFile = s('metadata-file');
  const options: BuildCommand['options'] = {
    tags: [...l('tag')],
    buildArgs: buildArgs(l('build-arg'), env),
    ...(target === undefined ? {} : { target }),
    ...(cacheDir === undefined ? {} : { cacheDir: resolve(cwd, cacheDir) }),
    noCache: f.booleans.has('no-cache'),
    ...(platform === undefined ? {} : { platform }),
    timestamps: f.booleans.has('preserve-timestamps') ? 'preserve' : 'normalize',
    ...(sde === undefined || sde === '' ? {} : { sourceDateEpoch: Number(sde) }),
    ...(layerCompression === undefined ? {} : { compression: layerCompression }),
    ...(outs.level === undefined ? {} : { compressionLevel: outs.level }),
    ...(Object.keys(baseImages).length === 0 ? {} : { baseImages }),
    ...(insecure.length === 0 ? {} : { insecureRegistries: insecure }),
    ...(pull === undefined ? {} : { pull }),
    ...(env.DOCKER_CONFIG ? { dockerConfigDir: env.DOCKER_CONFIG } : {}),
    ...(Object.keys(sec).length === 0 ? {} : { secrets: sec }),
    ...(parallelism === undefined ? {} : { maxParallelism: Number(parallelism) }),
    ...(runtime === undefined ? {} : { runtime }),
    ...(Object.keys(labels).length === 0 ? {} : { labels }),
    ...(Object.keys(ann).length === 0 ? {} : { annotations: ann }),
    ...(network === undefined || network === 'default' ? {} : { network }),
    ...(allow.length === 0 ? {} : { allow: [...new Set(allow)] }),
    ...(hosts.length === 0 ? {} : { extraHosts: hosts }),
    ...(Object.keys(named).length === 0 ? {} : { namedContexts: named }),
    ...(cacheTo.length === 0 ? {} : { cacheTo }),
    ...(cacheFrom.length === 0 ? {} : { cacheFrom }),
  };
  return {
    options,
    context: f.positionals[0] ?? '.',
    dockerfile: file === undefined ? undefined : file === '-' ? { stdin: true } : { path: resolve(cwd, file) },
    outputs: outs.outputs,
    cacheOnly: outs.cacheOnly,
    progress: quiet ? 'quiet' : progress,
    quiet,
    check: f.booleans.has('check'),
    help,
    ...(iidfile === undefined ? {} : { iidfile }),
    ...(metadataFile === undefined ? {} : { metadataFile }),
  };
}
