/**
 * `keel build` flags, as `docker build` spells them (SPEC.md section 1). Pure: argv and the
 * environment in, BuildOptions (plus CLI-only settings) out, or a UsageError.
 */
import { KeelError, RUNTIME_NAMES, type BuildOptions, type BuildOutput, type RuntimeName } from '../index.js';

/** A command line keel cannot take (exit status 2, with the usage text). */
export class UsageError extends KeelError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

export type ProgressMode = 'auto' | 'plain' | 'tty' | 'quiet';

export interface BuildCommand {
  readonly options: BuildOptions;
  readonly progress: ProgressMode;
  readonly iidfile?: string;
  /** -q: print only the image ID on stdout. */
  readonly quiet: boolean;
}

const VALUE_FLAGS: Record<string, string> = {
  '-f': 'file', '--file': 'file', '-t': 'tag', '--tag': 'tag', '--build-arg': 'build-arg', '--target': 'target',
  '--cache-dir': 'cache-dir', '-o': 'output', '--output': 'output', '--progress': 'progress', '--iidfile': 'iidfile',
  '--platform': 'platform', '--compression': 'compression', '--base-image': 'base-image',
  '--insecure-registry': 'insecure-registry', '--pull': 'pull', '--secret': 'secret',
  '--max-parallelism': 'max-parallelism', '--runtime': 'runtime',
};
const BOOL_FLAGS: Record<string, string> = {
  '--no-cache': 'no-cache', '--push': 'push', '-q': 'quiet', '--quiet': 'quiet', '--preserve-timestamps': 'preserve-timestamps',
};

export function parseOutput(spec: string): BuildOutput {
  if (!spec.includes('=')) return { type: 'oci-archive', path: spec };
  const fields = new Map(spec.split(',').map((kv) => {
    const i = kv.indexOf('=');
    return [i < 0 ? kv : kv.slice(0, i), i < 0 ? '' : kv.slice(i + 1)] as const;
  }));
  const type = fields.get('type') ?? 'oci';
  const dest = fields.get('dest');
  if (type === 'registry' || type === 'image') return { type: 'registry' };
  if (dest === undefined || dest === '') throw new UsageError(`--output ${spec}: dest= is required`);
  if (type === 'oci' || type === 'docker' || type === 'tar' || type === 'oci-archive') return { type: 'oci-archive', path: dest };
  if (type === 'oci-dir') return { type: 'oci-dir', path: dest };
  throw new UsageError(`--output: unknown type ${JSON.stringify(type)} (oci, oci-dir)`);
}

export function parseBuildArgs(argv: readonly string[], env: NodeJS.ProcessEnv): BuildCommand {
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (VALUE_FLAGS[name] !== undefined) {
      const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new UsageError(`flag needs an argument: ${name}`);
      const key = VALUE_FLAGS[name] as string;
      values.set(key, [...(values.get(key) ?? []), value]);
    } else if (BOOL_FLAGS[name] !== undefined && eq < 0) {
      flags.add(BOOL_FLAGS[name] as string);
    } else if (arg.startsWith('-') && arg !== '-') {
      throw new UsageError(`unknown flag: ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 1) throw new UsageError('keel build takes exactly one CONTEXT folder');
  const last = (key: string): string | undefined => values.get(key)?.at(-1);

  const buildArgs: Record<string, string> = {};
  for (const kv of values.get('build-arg') ?? []) {
    const i = kv.indexOf('=');
    // `--build-arg NAME` takes the value from the environment, and is skipped when it is not set
    if (i < 0) {
      const v = env[kv];
      if (v !== undefined) buildArgs[kv] = v;
    } else {
      buildArgs[kv.slice(0, i)] = kv.slice(i + 1);
    }
  }
  const progress = (last('progress') ?? 'auto') as ProgressMode;
  if (!['auto', 'plain', 'tty', 'quiet'].includes(progress)) throw new UsageError(`--progress: want auto, plain, tty or quiet, not ${progress}`);
  const compression = last('compression');
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd' && compression !== 'none') throw new UsageError('--compression: gzip, zstd or none');
  const output = last('output');
  const sde = env.SOURCE_DATE_EPOCH;
  if (sde !== undefined && sde !== '' && !/^[0-9]+$/.test(sde)) throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds, not ${sde}`);

  const baseImages: Record<string, string> = {};
  for (const kv of values.get('base-image') ?? []) {
    const i = kv.lastIndexOf('=');
    if (i <= 0 || i === kv.length - 1) throw new UsageError(`--base-image wants NAME=PATH, not ${kv}`);
    baseImages[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const secrets: Record<string, { path: string } | { value: string }> = {};
  for (const spec of values.get('secret') ?? []) {
    const f = new Map(spec.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
    const id = f.get('id');
    if (!id) throw new UsageError(`--secret wants id=ID,src=PATH or id=ID,env=VAR, not ${spec}`);
    const src = f.get('src') ?? f.get('source');
    const fromEnv = f.get('env');
    if (src !== undefined) secrets[id] = { path: src };
    else if (fromEnv !== undefined && env[fromEnv] !== undefined) secrets[id] = { value: env[fromEnv] as string };
    else if (env[id] !== undefined) secrets[id] = { value: env[id] as string };
  }
  const pull = last('pull') as 'missing' | 'always' | 'never' | undefined;
  if (pull !== undefined && !['missing', 'always', 'never'].includes(pull)) throw new UsageError('--pull: missing, always or never');
  const file = last('file');
  const target = last('target');
  const cacheDir = last('cache-dir') ?? env.KEEL_CACHE_DIR;
  const platform = last('platform');
  const iidfile = last('iidfile');
  const parallelism = last('max-parallelism');
  if (parallelism !== undefined && !/^[1-9][0-9]*$/.test(parallelism)) throw new UsageError(`--max-parallelism: a whole number of at least 1, not ${parallelism}`);
  const runtime = last('runtime');
  if (runtime !== undefined && !(RUNTIME_NAMES as readonly string[]).includes(runtime)) throw new UsageError(`--runtime: ${RUNTIME_NAMES.join(' or ')}, not ${runtime}`);
  const options: BuildOptions = {
    context: positional[0] as string,
    ...(file === undefined ? {} : { dockerfile: file }),
    tags: values.get('tag') ?? [],
    buildArgs,
    ...(target === undefined ? {} : { target }),
    ...(cacheDir === undefined ? {} : { cacheDir }),
    noCache: flags.has('no-cache'),
    ...(flags.has('push') ? { output: { type: 'registry' as const } } : output === undefined ? {} : { output: parseOutput(output) }),
    ...(platform === undefined ? {} : { platform }),
    timestamps: flags.has('preserve-timestamps') ? 'preserve' : 'normalize',
    ...(sde === undefined || sde === '' ? {} : { sourceDateEpoch: Number(sde) }),
    ...(compression === undefined ? {} : { compression: compression as 'gzip' | 'zstd' | 'none' }),
    ...(Object.keys(baseImages).length === 0 ? {} : { baseImages }),
    ...(values.has('insecure-registry') ? { insecureRegistries: values.get('insecure-registry') as string[] } : {}),
    ...(pull === undefined ? {} : { pull }),
    ...(env.DOCKER_CONFIG ? { dockerConfigDir: env.DOCKER_CONFIG } : {}),
    ...(Object.keys(secrets).length === 0 ? {} : { secrets }),
    ...(parallelism === undefined ? {} : { maxParallelism: Number(parallelism) }),
    ...(runtime === undefined ? {} : { runtime: runtime as RuntimeName }),
  };
  return { options, progress, quiet: flags.has('quiet'), ...(iidfile === undefined ? {} : { iidfile }) };
}
