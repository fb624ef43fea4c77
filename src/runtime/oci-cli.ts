/**
 * A Runtime (runtime.ts) for OCI runtimes with runc's command line: `runc` and `crun` take the same
 * `run --bundle B --pid-file F ID`, `kill ID KILL`, `list -q` and `delete --force ID`, so one module
 * serves both, chosen by binary name. A container that never started (no pid file) is the
 * runtime's failure, E_RUN_SETUP with its words (Debian's crun 1.8 refuses every container on a
 * cgroup v1 hybrid host: "cgroups in hybrid mode not supported"); a process that ran and exited
 * non-zero is the command's, a RunError.
 */
import { spawn } from 'node:child_process';
import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { command, quietly } from './commands.js';
import { slirpNetwork, type NetworkNamespace, type NetworkProvider } from './network.js';
import { runtimeSpec, type RunSpec, type SpecHost } from './oci-spec.js';
import type { Runtime, RuntimeName } from './runtime.js';

/** A RUN whose command exited non-zero: its exit code and last lines of output. */
export class RunError extends KeelError {
  override name = 'RunError';
  constructor(
    message: string,
    readonly exitCode: number,
    readonly output: readonly string[],
  ) {
    super('E_RUN', message);
  }
}

/** Lines of output kept for the error message. */
const TAIL_LINES = 20;

export interface OciRuntimeOptions {
  /** The runtime's state folder (`--root`), when not its default (in a user namespace /run is not keel's to write). */
  readonly stateRoot?: string;
  /** What of the machine the spec depends on. */
  readonly host: SpecHost;
  /** The network of a 'sandbox' RUN. @default slirpNetwork() */
  readonly network?: NetworkProvider;
}

export function ociRuntime(name: RuntimeName, opts: OciRuntimeOptions): Runtime {
  const globals = opts.stateRoot === undefined ? [] : ['--root', opts.stateRoot];
  const network = opts.network ?? slirpNetwork();
  return {
    name,
    run: async (bundle, id, spec, log, signal) => {
      const net: NetworkNamespace | undefined = spec.network === 'sandbox' ? await network.open(bundle, signal) : undefined;
      try {
        await writeFile(join(bundle, 'config.json'), JSON.stringify(runtimeSpec(spec, opts.host, net ?? {})), { mode: 0o600 });
        await runBundle(name, globals, bundle, id, spec, log, signal);
      } finally {
        await net?.close();
      }
    },
    list: async () => (await command(name, [...globals, 'list', '-q']).catch(() => '')).split('\n').filter((l) => l !== ''),
    remove: (id) => quietly(name, [...globals, 'delete', '--force', id]),
  };
}

async function runBundle(name: RuntimeName, globals: readonly string[], bundle: string, id: string, spec: RunSpec, log: (line: string) => void, signal?: AbortSignal): Promise<void> {
  const extra = (spec.extraHosts ?? []).map((h) => `${h.ip}\t${h.host}\n`).join('');
  await writeFile(join(bundle, 'hosts'), `127.0.0.1\tlocalhost ${spec.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n${extra}`);
  const pidFile = join(bundle, 'pid');
  const tail: string[] = [];
  if (signal?.aborted) throw new KeelError('E_ABORTED', 'build aborted');
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(name, [...globals, 'run', '--bundle', bundle, '--pid-file', pidFile, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    // the container may not exist yet when the abort comes: ask again until `run` returns
    let killing: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      const kill = (): void => void spawn(name, [...globals, 'kill', id, 'KILL'], { stdio: 'ignore' }).on('error', () => undefined);
      kill();
      killing = setInterval(kill, 100);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const line = (text: string): void => {
      if (text === '') return;
      log(text);
      tail.push(text);
      if (tail.length > TAIL_LINES) tail.shift();
    };
    // whole lines, as BuildKit prints them: a chunk may end in the middle of one (per stream, so that
    // stdout and stderr never splice); bytes are kept until their newline, so a character split
    // between chunks is decoded whole
    const lines = (): { data: (chunk: Buffer) => void; end: () => void } => {
      let rest = Buffer.alloc(0);
      return {
        data: (chunk) => {
          rest = Buffer.concat([rest, chunk]);
          for (let nl = rest.indexOf(0x0a); nl >= 0; nl = rest.indexOf(0x0a)) {
            line(rest.subarray(0, nl).toString('utf8'));
            rest = rest.subarray(nl + 1);
          }
          if (rest.length > 1 << 16) { // a line that never ends is shown in pieces
            line(rest.toString('utf8'));
            rest = Buffer.alloc(0);
          }
        },
        end: () => line(rest.toString('utf8')),
      };
    };
    const out = lines();
    const err = lines();
    child.stdout.on('data', out.data);
    child.stderr.on('data', err.data);
    child.stdout.on('end', out.end);
    child.stderr.on('end', err.end);
    child.on('error', (e) => reject(new KeelError('E_RUN_SETUP', `RUN needs ${name} on PATH (Debian: apt-get install ${name}): ${e.message}`)));
    child.on('close', (c) => {
      signal?.removeEventListener('abort', onAbort);
      if (killing !== undefined) clearInterval(killing);
      resolve(c ?? 1);
    });
  });
  const started = await stat(pidFile).then(() => true, () => false);
  await rm(join(bundle, 'config.json'), { force: true });
  await rm(pidFile, { force: true });
  if (signal?.aborted) throw new KeelError('E_ABORTED', 'build aborted');
  if (code === 0) return;
  const output = tail.length ? `:\n${tail.join('\n')}` : '';
  if (!started) throw new KeelError('E_RUN_SETUP', `${name} could not start the container for RUN ${spec.args.join(' ')}${output}`);
  throw new RunError(`RUN ${spec.args.join(' ')} exited with code ${code}${output}`, code, tail);
}
