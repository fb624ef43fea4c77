#!/usr/bin/env node
/**
 * The `keel` command. This is the only module that reads process.argv/env, writes to
 * stdout/stderr and sets exit codes (0 success, 1 build failed, 2 usage or input error).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { assertNever, build, DockerfileError, dump, isKeelError, parse, ParseError, type KeelErrorCode } from '../index.js';
import { parseBuildArgs, UsageError } from './build-args.js';
import { printable } from './printable.js';
import { plainRenderer, ttyRenderer, type Renderer } from './progress.js';

const USAGE = `Usage:
  keel build [OPTIONS] CONTEXT         build an image from a Dockerfile and a context folder
      -f, --file FILE                  the Dockerfile (default CONTEXT/Dockerfile)
      -t, --tag NAME[:TAG]             name the image (repeatable)
      --build-arg K[=V]                set a build-time variable (repeatable)
      --target STAGE                   build this stage
      -o, --output PATH | type=oci|oci-dir,dest=PATH | type=registry
                                       write the image (a tar for docker load, or an OCI folder)
      --push                           push to the registry each tag names
      --pull missing|always|never      how to get base images from registries (default missing)
      --insecure-registry HOST[:PORT]  speak plain HTTP to this registry (loopback always is)
      --secret id=ID,src=PATH|env=VAR  a secret for RUN --mount=type=secret (never in the image)
      --cache-dir DIR                  the cache (default $KEEL_CACHE_DIR, ~/.cache/keel)
      --no-cache                       run every step (results are still stored for the next build)
      --progress auto|plain|tty|quiet  how to show progress on stderr
      --iidfile FILE                   write the image ID (config digest) here
      -q, --quiet                      print only the image ID
      --platform OS/ARCH               the target platform
      --preserve-timestamps            keep source mtimes in layers (default: normalised)
      --compression gzip|zstd|none     layer compression (zstd: docker >= 23 loads it)
      --base-image NAME=PATH           use this archive (docker save or OCI) for FROM/COPY --from NAME
      --max-parallelism N              run at most N steps at once (default: no limit, as BuildKit;
                                       independent stages are built at the same time)
      --runtime runc|crun              the OCI runtime for RUN (default: runc, else crun, on PATH)
  keel parse [--dump | --json] FILE    parse a Dockerfile (FILE may be - for stdin)
                                       --dump: BuildKit's AST dump (default); --json: the typed AST
  keel --help

Exit codes: 0 success, 1 a build step failed, 2 usage or input error.
`;

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
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
    else if (a.startsWith('--') || (a.startsWith('-') && a !== '-')) throw new UsageError(`unknown flag: ${a}`);
    else files.push(a);
  }
  if (files.length !== 1) throw new UsageError('keel parse takes exactly one FILE');
  const file = files[0] as string;
  const text = await readInput(file);
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

async function buildCommand(args: readonly string[]): Promise<number> {
  const cmd = parseBuildArgs(args, process.env);
  const tty = process.stderr.isTTY === true;
  const mode = cmd.quiet ? 'quiet' : cmd.progress === 'auto' ? (tty ? 'tty' : 'plain') : cmd.progress;
  const write = (s: string): void => void process.stderr.write(s);
  const render: Renderer | undefined = mode === 'plain' ? plainRenderer(write) : mode === 'tty' ? ttyRenderer(write) : undefined;
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  try {
    const result = await build({ ...cmd.options, signal: ac.signal, ...(render === undefined ? {} : { onProgress: render }) });
    render?.finish(true);
    if (cmd.iidfile !== undefined) await writeFile(cmd.iidfile, result.configDigest);
    if (cmd.quiet) process.stdout.write(`${result.configDigest}\n`);
    else {
      const out = cmd.options.output;
      write(`image ${result.configDigest} (manifest ${result.manifestDigest})${out === undefined || out.type === 'registry' ? '' : ` written to ${printable(out.path)}`}\n`);
      for (const p of result.pushed ?? []) write(`pushed ${p.reference}@${p.digest}\n`);
      for (const t of result.tags) write(`naming to ${t}\n`);
    }
    return 0;
  } catch (e) {
    render?.finish(false);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const debug = rest.includes('--debug');
  const args = rest.filter((a) => a !== '--debug');
  try {
    switch (command) {
      case 'parse':
        return await parseCommand(args);
      case 'build':
        return await buildCommand(args);
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command: ${command}`);
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
    else process.stderr.write(`keel: ${printable(e.message)}\n${e.code === 'E_USAGE' ? `\n${USAGE}` : ''}`);
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
    case 'E_CONTEXT_ESCAPE': case 'E_SOURCE_NOT_FOUND': case 'E_UNSUPPORTED': case 'E_ABORTED': case 'E_RUN': case 'E_RUN_SETUP':
    case 'E_NO_SPACE': case 'E_INTERNAL':
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
