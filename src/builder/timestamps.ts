/**
 * The times keel writes (SPEC.md section 5): layer mtimes normalised to 1980-01-01, or clamped to
 * SOURCE_DATE_EPOCH, unless `timestamps: 'preserve'`; the config's `created` at SOURCE_DATE_EPOCH
 * or the epoch, so that the same inputs give the same digest.
 */
import { KeelError } from '../errors.js';

/** 1980-01-01T00:00:00Z: layer mtimes without SOURCE_DATE_EPOCH (zip tools refuse earlier times). */
export const NORMALIZED_MTIME = 315532800;

export interface Timestamps {
  /** The mtime a file with this source mtime gets in a layer. */
  mtime(source: number): number;
  /** The mtime of what a step makes itself (folders, heredoc files). */
  createdMtime(): number;
  /** The config's and history's `created`. */
  created(): string;
}

export function timestamps(mode: 'normalize' | 'preserve', sourceDateEpoch: number | undefined, now: () => number = Date.now): Timestamps {
  if (sourceDateEpoch !== undefined && (!Number.isInteger(sourceDateEpoch) || sourceDateEpoch < 0)) {
    throw new KeelError('E_BUILD_INPUT', `invalid SOURCE_DATE_EPOCH ${sourceDateEpoch}`);
  }
  const created = new Date((sourceDateEpoch ?? 0) * 1000).toISOString().replace('.000Z', 'Z');
  return {
    mtime: (source) => (mode === 'preserve' ? source : sourceDateEpoch === undefined ? NORMALIZED_MTIME : Math.min(source, sourceDateEpoch)),
    createdMtime: () => (mode === 'preserve' ? Math.floor(now() / 1000) : sourceDateEpoch ?? NORMALIZED_MTIME),
    created: () => created,
  };
}
