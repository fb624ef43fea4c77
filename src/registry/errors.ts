/**
 * RegistryError: a registry's answer as data, as go-containerregistry's transport.Error keeps it
 * (remote/transport/error.go): the HTTP status, the error codes of the distribution spec's error
 * body (`DENIED`, `MANIFEST_UNKNOWN`, `TOOMANYREQUESTS`, …) and whether trying again may help.
 * Its `code` stays one of keel's (E_AUTH, E_NOT_FOUND, E_REGISTRY), so callers branch on codes.
 */
import { KeelError, type KeelErrorCode } from '../errors.js';

/** One entry of the registry's `{"errors": [...]}` body. */
export interface Diagnostic {
  readonly code: string;
  readonly message: string;
}

/** Statuses worth another try (ggcr's temporary codes, plus 429). */
const TEMPORARY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const TEMPORARY_CODES = new Set(['TOOMANYREQUESTS', 'UNAVAILABLE']);

export class RegistryError extends KeelError {
  override name = 'RegistryError';
  constructor(
    code: Extract<KeelErrorCode, 'E_AUTH' | 'E_NOT_FOUND' | 'E_REGISTRY'>,
    message: string,
    /** The HTTP status; undefined when no answer came (a connection refused, a name not found). */
    readonly status: number | undefined,
    readonly diagnostics: readonly Diagnostic[] = [],
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }

  /** Whether the same request may succeed later: no answer, a 5xx or 429, or a registry code saying so. */
  get temporary(): boolean {
    return this.status === undefined || TEMPORARY_STATUS.has(this.status) || this.diagnostics.some((d) => TEMPORARY_CODES.has(d.code));
  }
}

/** The diagnostics of an error body (read up to 64 KiB); none when it is not the spec's JSON. */
export function parseDiagnostics(body: string): Diagnostic[] {
  try {
    const parsed: unknown = JSON.parse(body.slice(0, 64 * 1024));
    const errors = typeof parsed === 'object' && parsed !== null && 'errors' in parsed ? (parsed as { errors: unknown }).errors : undefined;
    if (!Array.isArray(errors)) return [];
    return errors.flatMap((e: unknown) => {
      if (typeof e !== 'object' || e === null) return [];
      const { code, message } = e as { code?: unknown; message?: unknown };
      return [{ code: typeof code === 'string' ? code : '', message: typeof message === 'string' ? message : '' }];
    });
  } catch {
    return [];
  }
}
