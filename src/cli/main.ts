#!/usr/bin/env node
/**
 * The `keel` command. This is the only module that reads process.argv/env/stdin, writes to
 * stdout/stderr and sets exit codes (0 success, 1 build failed, 2 usage or input error, 128+N
 * after signal N: 130 for Ctrl-C, 143 for SIGTERM).
 */
// first: the modules below are compiled from Node's code cache where it has one
import './compile-cache.js';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { assertNever, build, DockerfileError, dump, isKeelError, parse, ParseError, type BuildOptions, type BuildResult, type KeelErrorCode } from '../index.js';
import { BUILD_FLAGS, OUTPUTS_HELP, parseBuildCommand, type BuildCommand } from './build-command.js';
import { flagHelp } from './flags.js';
import { toBuildOutputs, type CliOutput } from './outputs.js';
import { printable } from './printable.js';
import { plainRenderer, rawJsonRenderer, ttyRenderer, type Renderer } from './progress.js';
import { UsageError } from './usage-error.js';

const USAGE = `Usage:  keel COMMAND

Build OCI container images from Dockerfiles, without a Docker daemon.

Commands:
  build [OPTIONS] CONTEXT     build an image from a Dockerfile and a context (a folder, or - for stdin)
  parse [--dump|--json] FILE  parse a Dockerfile (FILE may be - for stdin): BuildKit's AST dump,
                              or keel's typed AST as JSON
  check [OPTIONS] [CONTEXT]   run BuildKit's build checks on a Dockerfile (docker build --check)
  du [-v]                     what the cache holds, by kind
  prune [-a] [--keep-storage SIZE] [--filter until=DURATION]
                              remove from the cache what is not needed
  help [COMMAND]              print help
  version                     print keel's version

Global options:
  -h, --help     print help
  -v, --version  print keel's version
      --debug    print stack traces with errors

Run 'keel COMMAND --help' for more on a command.
Exit codes: 0 success, 1 a build step failed, 2 usage or input error, 130/143 interrupted.
`;

const BUILD_USAGE = `Usage:  keel build [OPTIONS] CONTEXT

Build an image from a Dockerfile. CONTEXT is a folder, or - for a tar of the context on stdin
(plain, gzip, bzip2, xz or zstd) or a Dockerfile alone. Flags are docker buildx build's; keel
differs in one: -o PATH writes keel's image archive (docker load and an OCI layout in one tar),
where buildx writes a folder (keel: -o type=local,dest=PATH). Without an output the image stays
in keel's cache.

Options:
${flagHelp(BUILD_FLAGS)}

${OUTPUTS_HELP}
`;

// keel check is loaded when it runs
// eslint-disable-next-line @typescript-eslint/no-require-imports
const checkCommands = (): typeof import('./check-command.js') => require('./check-command.js') as typeof import('./check-command.js');

// the cache commands are loaded when one runs: every module costs every build's start
// eslint-disable-next-line @typescript-eslint/no-require-imports
const cacheCommands = (): typeof import('./cache-commands.js') => require('./cache-commands.js') as typeof import('./cache-commands.js');

const duUsage = (): string => `Usage:  keel du [OPTIONS]

What the cache folder holds: blobs, layer folders (RUN's), extracted bodies, RUN cache mounts and
leftovers, with their sizes; -v lists each, least recently used first.

Options:
${flagHelp(cacheCommands().DU_FLAGS)}
`;

const pruneUsage = (): string => `Usage:  keel prune [OPTIONS]

Remove from the cache folder what is not needed: without options the leftovers only (the trash,
abandoned temporary folders, partial downloads); -a everything; --keep-storage SIZE the least
recently used until SIZE is left; --filter until=DURATION only what was not used for that long.
Nothing is removed while a build uses the cache. Builds keep the cache within a budget themselves
($KEEL_CACHE_MAX_SIZE, else 10% of its file system, at least 2 GB).

Options:
${flagHelp(cacheCommands().PRUNE_FLAGS)}
`;

const checkUsage = (): string => `Usage:  keel check [OPTIONS] [CONTEXT]

Run BuildKit's build checks (FromAsCasing, UndefinedVar, JSONArgsRecommended, ...) on CONTEXT's
Dockerfile (CONTEXT defaults to the current folder), as docker build --check does: every stage, the
context's .dockerignore, the # check= directive (or --build-arg BUILDKIT_DOCKERFILE_CHECK=...).
Base images are not pulled: variables their ENV may set are not judged. Exit 0 with warnings, 1
when the checks are errors (check=error=true), 2 when the Dockerfile does not parse.

Options:
${flagHelp(checkCommands().CHECK_FLAGS)}
`;

const PARSE_USAGE = `Usage:  keel parse [--dump | --json] FILE

Parse a Dockerfile (FILE may be - for stdin) and print BuildKit's AST dump (--dump, the default) or
keel's typed AST as JSON (--json). Problems go to stderr as FILE:LINE: message; exit 2 if any.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return `keel ${pkg.version}\n`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function parseCommand(args: readonly string[]): Promise<number> {
  let mode: 'dump' | 'json' = 'dump';
  const files: string[] = [];
  for (const a of args) {
    if (a === '--dump') mode = 'dump';
    else if (a === '--json') mode = 'json';
    else if (a === '--help' || a === '-h') {
      process.stdout.write(PARSE_USAGE);
      return 0;
    } else if (a.startsWith('--') || (a.startsWith('-') && a !== '-')) throw new UsageError(`unknown flag: ${a}`);
    else files.push(a);
  }
  if (files.length !== 1) throw new UsageError('keel parse takes exactly one FILE');
  const file = files[0] as string;
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  // Print everything readable, then every problem; exit 2 if a problem was found (docker build would fail).
  const ast = parse(text, { filename: file === '-' ? 'Dockerfile' : file, recover: true });
  if (mode === 'json') {
    const json = JSON.stringify(ast, (key, value: unknown) => (key === 'errors' && Array.isArray(value) ? value.map(errorJson) : value), 2);
    process.stdout.write(json + '\n');
  } else {
    process.stdout.write(dump(ast));
  }
  for (const w of ast.warnings) process.stderr.write(`${printable(`${file}:${w.range.start.line}: warning: ${w.message}`)}\n`);
  for (const e of ast.errors) process.stderr.write(`${printable(e.format())}\n`);
  return ast.errors.length > 0 ? 2 : 0;
}

function errorJson(e: unknown): unknown {
  return e instanceof ParseError ? { code: e.code, message: e.message, range: e.range } : e;
}

/** The progress display the flags and the terminal ask for (none for quiet). */
function renderer(cmd: BuildCommand, write: (s: string) => void): Renderer | undefined {
  const tty = process.stderr.isTTY === true;
  const mode = cmd.progress === 'auto' ? (tty ? 'tty' : 'plain') : cmd.progress;
  switch (mode) {
    case 'plain':
      return plainRenderer(write);
    case 'tty':
      return ttyRenderer(write, { columns: () => process.stderr.columns ?? 80 });
    case 'rawjson':
      return rawJsonRenderer(write);
    case 'quiet':
      return undefined;
    default:
      return assertNever(mode);
  }
}

/** buildx's metadata file: the keys its image exporters write. */
function metadata(result: BuildResult, names: readonly string[]): string {
  // several platforms: the names point at their index, and there is no one config
  const top = result.index === undefined
    ? { mediaType: result.image.manifest.mediaType, size: result.image.manifestBlob.size }
    : { mediaType: result.index.index.mediaType, size: result.index.indexBlob.size };
  return `${JSON.stringify({
    ...(result.index === undefined ? { 'containerimage.config.digest': result.configDigest } : {}),
    'containerimage.descriptor': { mediaType: top.mediaType, digest: result.manifestDigest, size: top.size },
    'containerimage.digest': result.manifestDigest,
    ...(names.length === 0 ? {} : { 'image.name': names.join(',') }),
  }, null, 2)}\n`;
}

/** The build checks' findings after a build, as buildx lists build warnings. */
function checkWarnings(findings: BuildResult['findings']): string {
  const n = findings.length;
  return `${n} warning${n === 1 ? '' : 's'} found (keel check lists them with the Dockerfile's lines):\n${findings.map((f) => ` - ${f.rule}: ${printable(f.message)} (line ${f.range.start.line})\n`).join('')}`;
}

/** What each output did, on stderr (an output on stdout says nothing). */
function summary(result: BuildResult, outputs: readonly CliOutput[], write: (s: string) => void): void {
  if (result.index === undefined) write(`image ${result.configDigest} (manifest ${result.manifestDigest})\n`);
  else write(`image index ${result.manifestDigest} (${result.index.images.map((i) => `${i.config.os}/${i.config.architecture}${i.config.variant === undefined ? '' : `/${i.config.variant}`}`).join(', ')})\n`);
  for (const o of outputs) {
    if ('dest' in o && o.dest === '-') continue;
    switch (o.kind) {
      case 'archive': case 'oci-dir':
        write(`written to ${printable(o.dest)}\n`);
        break;
      case 'rootfs-tar': case 'rootfs-dir':
        write(`root file system written to ${printable(o.dest)}\n`);
        break;
      case 'docker':
        for (const l of result.loaded ?? []) write(`loaded into the Docker daemon: ${printable(l)}\n`);
        break;
      case 'registry':
        for (const p of result.pushed ?? []) write(`pushed ${p.reference}@${p.digest}\n`);
        break;
    }
  }
  for (const t of result.tags) write(`naming to ${t}\n`);
}

/** The signals that end a build, with their numbers (the exit status is 128 + it). */
const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;

async function buildCommand(args: readonly string[]): Promise<number> {
  const cmd = parseBuildCommand(args, process.env, process.cwd());
  if (cmd.help) {
    process.stdout.write(BUILD_USAGE);
    return 0;
  }
  if (cmd.context === '-' && cmd.dockerfile !== undefined && 'stdin' in cmd.dockerfile) throw new UsageError('the context and the Dockerfile cannot both come from stdin (-f - and CONTEXT -)');
  // as buildx refuses: an image is no text for a terminal
  if (process.stdout.isTTY === true && cmd.outputs.some((o) => 'dest' in o && o.dest === '-')) throw new UsageError('refusing to write an image to the terminal: redirect stdout, or give the output a file');
  const write = (s: string): void => void process.stderr.write(s);
  const dockerfile: BuildOptions['dockerfile'] = cmd.dockerfile === undefined ? undefined : 'stdin' in cmd.dockerfile ? { text: await readStdin() } : cmd.dockerfile.path;
  if (cmd.check) {
    // buildx's --check (= --call=check): the checks, and no build
    if (cmd.context === '-') throw new UsageError('--check reads a context folder, not stdin');
    return checkCommands().runChecks({
      context: cmd.context, ...(dockerfile === undefined ? {} : { dockerfile }), buildArgs: cmd.options.buildArgs ?? {},
      ...(cmd.options.platform === undefined ? {} : { platform: cmd.options.platform.split(',')[0] as string }), format: 'text',
    }, (t) => void process.stdout.write(t), write);
  }
  const render = renderer(cmd, write);
  const ac = new AbortController();
  let stoppedBy: keyof typeof SIGNALS | undefined;
  const handlers = Object.keys(SIGNALS).map((name) => {
    const handler = (): void => {
      stoppedBy ??= name as keyof typeof SIGNALS;
      ac.abort();
    };
    process.on(name, handler);
    return () => process.off(name, handler);
  });
  try {
    const result = await build({
      ...cmd.options,
      context: cmd.context === '-' ? { stream: process.stdin } : cmd.context,
      ...(dockerfile === undefined ? {} : { dockerfile }),
      output: toBuildOutputs(cmd.outputs, process.stdout, process.env.DOCKER_HOST || undefined),
      signal: ac.signal,
      ...(render === undefined ? {} : { onProgress: render }),
    });
    render?.finish(true);
    for (const w of result.warnings) write(`WARNING: ${printable(w)}\n`);
    if (result.findings.length > 0 && cmd.progress !== 'quiet') write(checkWarnings(result.findings));
    if (cmd.outputs.length === 0 && !cmd.cacheOnly && cmd.progress !== 'quiet') {
      write('WARNING: No output specified. Build result will only remain in the cache. To write an image archive use -o PATH, to load it into docker use --load, to push it use --push\n');
    }
    if (result.unusedBuildArgs.length > 0 && cmd.progress !== 'quiet') write(`[Warning] One or more build-args [${result.unusedBuildArgs.join(' ')}] were not consumed\n`);
    // buildx's image ID: the config's digest, or with several platforms the index's
    const iid = result.index === undefined ? result.configDigest : result.manifestDigest;
    if (cmd.iidfile !== undefined) await writeFile(cmd.iidfile, iid);
    if (cmd.metadataFile !== undefined) await writeFile(cmd.metadataFile, metadata(result, names(cmd)));
    if (cmd.quiet) process.stdout.write(`${iid}\n`);
    else summary(result, cmd.outputs, write);
    return 0;
  } catch (e) {
    render?.finish(false);
    if (stoppedBy !== undefined) {
      write(`keel: interrupted (${stoppedBy}): nothing half-written was kept\n`);
      return 128 + SIGNALS[stoppedBy];
    }
    const excerpt = dockerfileExcerpt(e, cmd, dockerfile);
    if (excerpt !== undefined) write(excerpt);
    throw e;
  } finally {
    for (const off of handlers) off();
  }
}

/** BuildKit's excerpt of the Dockerfile around a Dockerfile's error (none when its text cannot be had again). */
function dockerfileExcerpt(e: unknown, cmd: BuildCommand, given: BuildOptions['dockerfile']): string | undefined {
  const at = e instanceof DockerfileError ? { filename: e.filename, range: e.range } : e instanceof ParseError ? { filename: e.errors[0]?.filename ?? 'Dockerfile', range: e.errors[0]?.range } : undefined;
  if (at?.range === undefined) return undefined;
  let text: string | undefined;
  if (given !== undefined && typeof given !== 'string') text = given.text;
  else {
    const path = given ?? (cmd.context === '-' ? undefined : join(cmd.context, 'Dockerfile'));
    // the error names this file (not an ONBUILD trigger of a base image)
    if (path === undefined || (basename(path) !== at.filename && path !== at.filename && !path.endsWith(`/${at.filename}`))) return undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  }
  // loaded on a failure only
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { sourceExcerpt } = require('./excerpt.js') as typeof import('./excerpt.js');
  return sourceExcerpt(text, at.filename, at.range.start.line, at.range.end.line);
}

/** The names the image was given: the outputs' own, else the tags. */
function names(cmd: BuildCommand): string[] {
  const own = cmd.outputs.flatMap((o) => ('names' in o && o.names !== undefined ? o.names : []));
  return own.length > 0 ? [...new Set(own)] : [...(cmd.options.tags ?? [])];
}

export async function main(argv: readonly string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const [command, ...args] = argv.filter((a) => a !== '--debug');
  try {
    switch (command) {
      case 'parse':
        return await parseCommand(args);
      case 'build':
        return await buildCommand(args);
      case 'check': {
        const out = (t: string): void => void process.stdout.write(t);
        const req = checkCommands().parseCheckCommand(args, process.env, process.cwd(), out, checkUsage());
        return req === undefined ? 0 : await checkCommands().runChecks(req, out, (t) => void process.stderr.write(t));
      }
      case 'du':
        return await cacheCommands().duCommand(args, process.env, (t) => void process.stdout.write(t), duUsage());
      case 'prune':
        return await cacheCommands().pruneCommand(args, process.env, (t) => void process.stdout.write(t), pruneUsage());
      case '--version': case '-v': case 'version':
        process.stdout.write(version());
        return 0;
      case 'help':
        process.stdout.write(args[0] === 'du' ? duUsage() : args[0] === 'prune' ? pruneUsage() : args[0] === 'check' ? checkUsage() : ({ build: BUILD_USAGE, parse: PARSE_USAGE }[args[0] ?? ''] ?? USAGE));
        return 0;
      case '--help': case '-h':
        process.stdout.write(USAGE);
        return 0;
      case undefined:
        process.stderr.write(USAGE);
        return 2;
      default:
        throw new UsageError(`unknown command: ${command} (keel build, check, parse, du, prune; keel --help)`);
    }
  } catch (e) {
    if (!isKeelError(e)) {
      const err = e as NodeJS.ErrnoException;
      if (typeof err?.code === 'string' && typeof err.path === 'string') {
        process.stderr.write(`keel: ${printable(`${err.path}: ${err.message}`)}\n`);
        return 2;
      }
      process.stderr.write(`keel: internal error: ${printable(err?.message ?? String(e))}\n`);
      if (debug && err?.stack !== undefined) process.stderr.write(err.stack + '\n');
      return 1;
    }
    // what to print depends on what the error knows (a usage, a list of parse errors, a place in
    // the Dockerfile); the exit status only on its code
    if (e instanceof ParseError) for (const err of e.errors) process.stderr.write(`${printable(err.format())}\n`);
    else if (e instanceof DockerfileError) process.stderr.write(`${printable(e.format())}\n`);
    else process.stderr.write(`keel: ${printable(e.message)}\n${e.code === 'E_USAGE' ? `See 'keel ${['build', 'parse', 'du', 'prune'].includes(command ?? '') ? `${command as string} ` : ''}--help'.\n` : ''}`);
    if (debug && e.stack !== undefined) process.stderr.write(e.stack + '\n');
    return exitStatus(e.code);
  }
}

/**
 * SPEC.md section 1: 2 for a usage or input error (the command line, the Dockerfile's text, a bad
 * name or stage, an input the build cannot take), 1 for a build that failed (a step, a registry,
 * the runtime, an abort, keel itself), wherever in the build it happened.
 */
export function exitStatus(code: KeelErrorCode): 1 | 2 {
  switch (code) {
    case 'E_USAGE': case 'E_NO_INSTRUCTIONS': case 'E_LINE_TOO_LONG': case 'E_DIRECTIVE': case 'E_HEREDOC': case 'E_JSON_ARGS':
    case 'E_KEY_VALUE': case 'E_UNKNOWN_INSTRUCTION': case 'E_FLAG': case 'E_ARGUMENTS': case 'E_VALUE': case 'E_NO_STAGE':
    case 'E_EXPANSION': case 'E_BUILD_INPUT': case 'E_REFERENCE': case 'E_STAGE': case 'E_PLATFORM': case 'E_CACHE':
      return 2;
    case 'E_DIGEST': case 'E_DIGEST_MISMATCH': case 'E_BLOB_NOT_FOUND': case 'E_REGISTRY': case 'E_AUTH': case 'E_NOT_FOUND':
    case 'E_CONTEXT_ESCAPE': case 'E_SOURCE_NOT_FOUND': case 'E_UNSUPPORTED': case 'E_ABORTED': case 'E_RUN': case 'E_RUN_SETUP': case 'E_EMULATOR': case 'E_ENTITLEMENT':
    case 'E_NO_SPACE': case 'E_INTERNAL': case 'E_DOCKER': case 'E_CHECK':
      return 1;
    default:
      return assertNever(code);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
