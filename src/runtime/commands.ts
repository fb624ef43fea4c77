/**
 * The system commands RUN's sandbox needs (mount, umount, mknod, setfattr, runc list): Node has no
 * calls for mounts, device nodes or extended attributes. One place runs them and turns a failure
 * into E_RUN_SETUP with the command's own words.
 */
import { spawn } from 'node:child_process';
import { KeelError } from '../errors.js';

export interface CommandOptions {
  /** Bytes for its standard input. */
  readonly input?: Buffer;
  readonly cwd?: string;
}

/** Run `cmd`; resolves with its standard output, rejects (E_RUN_SETUP) when it is missing or fails. */
export function command(cmd: string, args: readonly string[], opts: CommandOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }) });
    let out = '';
    let err = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e) => reject(new KeelError('E_RUN_SETUP', `${cmd} is needed for RUN: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new KeelError('E_RUN_SETUP', `${cmd} failed (${code}): ${err.trim()}`))));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Run a clean-up command whose failure is not the build's failure. */
export const quietly = (cmd: string, args: readonly string[]): Promise<void> => command(cmd, args).then(() => undefined, () => undefined);

/**
 * Flush the file system holding `path` to disk (syncfs(2), by coreutils' `sync -f`: Node has no
 * call for it). A folder of thousands of files extracted without an fsync each is flushed once
 * before it is named as complete, so a crash cannot leave a complete-looking folder of empty files.
 */
export const syncFileSystem = (path: string): Promise<void> =>
  command('sync', ['-f', path]).then(() => undefined, (e: Error) => {
    throw new KeelError('E_CACHE', `could not flush ${path} to disk: ${e.message}`);
  });
