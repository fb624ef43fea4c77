import { KeelError } from '../errors.js';
import type { Range } from './ast.js';

export type ParseErrorCode =
  | 'E_NO_INSTRUCTIONS'
  | 'E_LINE_TOO_LONG'
  | 'E_DIRECTIVE'
  | 'E_HEREDOC'
  | 'E_JSON_ARGS'
  | 'E_KEY_VALUE'
  | 'E_UNKNOWN_INSTRUCTION'
  | 'E_FLAG'
  | 'E_ARGUMENTS'
  | 'E_VALUE'
  | 'E_NO_STAGE';

/**
 * A problem in a Dockerfile. `message` is BuildKit's text for it; `range` says where (for an
 * instruction-level problem, the flag or word at fault where there is one, else the instruction).
 * The error `parse()` throws is the first problem, with every problem found in `errors`.
 */
export class ParseError extends KeelError {
  override name = 'ParseError';
  declare readonly code: ParseErrorCode;
  /**
   * Every problem found in the file, in source order (this one first when thrown by parse()).
   * Not enumerable, so that an error (or a recovered AST holding errors) serialises as JSON.
   */
  declare readonly errors: readonly ParseError[];

  constructor(
    code: ParseErrorCode,
    message: string,
    readonly range: Range,
    readonly filename?: string,
    errors?: readonly ParseError[],
  ) {
    super(code, message);
    Object.defineProperty(this, 'errors', { value: errors ?? [this], enumerable: false });
  }

  /** The 1-based line where the problem starts. */
  get line(): number {
    return this.range.start.line;
  }

  /** `FILE:LINE: message`, as the CLI prints it. */
  format(): string {
    return `${this.filename ?? 'Dockerfile'}:${this.line}: ${this.message}`;
  }
}
