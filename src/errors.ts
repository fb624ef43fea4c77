/**
 * keel's error base. Every error keel throws on purpose is a KeelError with a stable `code`;
 * callers branch on `code`, never on message text (see shared/STYLE.md, "Errors").
 */

/** Every code a KeelError can carry. Grouped by the module that raises it. */
export const KEEL_ERROR_CODES = [
  // parser: problems found while reading the text (BuildKit's parser.Parse errors)
  'E_NO_INSTRUCTIONS',
  'E_LINE_TOO_LONG',
  'E_DIRECTIVE',
  'E_HEREDOC',
  'E_JSON_ARGS',
  'E_KEY_VALUE',
  // parser: problems with one instruction (BuildKit's instructions.ParseInstruction errors)
  'E_UNKNOWN_INSTRUCTION',
  'E_FLAG',
  'E_ARGUMENTS',
  'E_VALUE',
  'E_NO_STAGE',
  // shell-word expansion (BuildKit's shell.Lex errors)
  'E_EXPANSION',
  // the cache folder: not a folder, not writable, open to other users; a full disk
  'E_CACHE',
  'E_NO_SPACE',
  // content store and images
  'E_DIGEST',
  'E_DIGEST_MISMATCH',
  'E_BLOB_NOT_FOUND',
  // registries
  'E_REFERENCE',
  'E_REGISTRY',
  'E_AUTH',
  'E_NOT_FOUND',
  'E_PLATFORM',
  // build
  'E_BUILD_INPUT',
  'E_CONTEXT_ESCAPE',
  'E_SOURCE_NOT_FOUND',
  'E_UNSUPPORTED',
  'E_STAGE',
  'E_ABORTED',
  'E_RUN',
  // RUN could not get a sandbox: no runtime, no root or user namespaces, a mount refused
  'E_RUN_SETUP',
  // RUN for another architecture, with no emulator registered for it in binfmt_misc
  'E_EMULATOR',
  // the Dockerfile asks for what escapes RUN's sandbox (host network, insecure, devices) without the user's --allow
  'E_ENTITLEMENT',
  // an output: the Docker daemon refused the image or could not be reached
  'E_DOCKER',
  // build checks: a check configuration that cannot be read, or findings with `error=true`
  'E_CHECK',
  // the command line: an unknown flag, a missing argument
  'E_USAGE',
  // a bug in keel
  'E_INTERNAL',
] as const;

export type KeelErrorCode = (typeof KEEL_ERROR_CODES)[number];

const brand = Symbol.for('keel.error');

export class KeelError extends Error {
  override name = 'KeelError';
  readonly [brand] = true;
  constructor(
    readonly code: KeelErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** True for any KeelError (even from another installed copy of keel), optionally of one code. */
export function isKeelError(e: unknown, code?: KeelErrorCode): e is KeelError {
  return (
    typeof e === 'object' &&
    e !== null &&
    brand in e &&
    (code === undefined || (e as KeelError).code === code)
  );
}

/** The default of a switch over a union: a compile error when a member is not handled. */
export function assertNever(x: never): never {
  throw new KeelError('E_INTERNAL', `unhandled case ${JSON.stringify(x)}`);
}
