import { KeelError, type KeelErrorCode } from '../errors.js';
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
