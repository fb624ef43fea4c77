import { isKeelError, KeelError, type KeelErrorCode } from '../errors.js';
import type { Range } from '../parser/index.js';

/** A build failure tied to a Dockerfile instruction: the cause's code and text, plus where. */
export class DockerfileError extends KeelError {
  override name = 'DockerfileError';
  constructor(
    cause: KeelError,
    readonly range: Range,
    readonly filename: string,
  ) {
    super(cause.code as KeelErrorCode, cause.message, { cause });
  }

  get line(): number {
    return this.range.start.line;
  }

  /** `FILE:LINE: message`, as the CLI prints it. */
  format(): string {
    return `${this.filename}:${this.line}: ${this.message}`;
  }
}

/** Node's codes for a full disk or quota. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);
/** Node's codes for a folder this process may not write. */
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * A system error of the file system as a KeelError: a full disk is E_NO_SPACE and a cache folder
 * keel may not write is E_CACHE, each naming the folder (the error's own path where it has one);
 * anything else is returned as it is.
 */
export function fromSystemError(e: unknown, cacheDir: string): unknown {
  if (isKeelError(e) || typeof e !== 'object' || e === null) return e;
  const err = e as NodeJS.ErrnoException;
  if (typeof err.code !== 'string') return e;
  const where = err.path ?? cacheDir;
  if (NO_SPACE.has(err.code)) return new KeelError('E_NO_SPACE', `no space left on the device of ${where} (${err.code}); nothing half-written is kept: free some and build again`, { cause: e });
  if (NOT_WRITABLE.has(err.code) && where.startsWith(cacheDir)) return new KeelError('E_CACHE', `the cache folder ${cacheDir} cannot be written (${err.code} on ${where})`, { cause: e });
  return e;
}
