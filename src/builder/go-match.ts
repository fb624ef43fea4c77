/**
 * Go's path/filepath.Match on Unix: `*` (not crossing `/`), `?`, `[...]` classes (`^` negates,
 * ranges, `\` escapes), `\x`. COPY wildcards follow it (SPEC.md section 4), not minimatch.
 * Works on code points; throws GoPatternError (Go's ErrBadPattern) for a malformed pattern.
 */
import { KeelError } from '../errors.js';

/** Go's ErrBadPattern. */
export class GoPatternError extends KeelError {
  constructor() {
    super('E_BUILD_INPUT', 'syntax error in pattern');
  }
}

type Cps = readonly string[];

export function goMatch(pattern: string, name: string): boolean {
  let pat: Cps = Array.from(pattern);
  let s: Cps = Array.from(name);
  pattern: while (pat.length > 0) {
    const { star, chunk, rest } = scanChunk(pat);
    pat = rest;
    if (star && chunk.length === 0) return !s.includes('/');
    const t = matchChunk(chunk, s);
    if (t !== undefined && (t.length === 0 || pat.length > 0)) {
      s = t;
      continue;
    }
    if (star) {
      for (let i = 0; i < s.length && s[i] !== '/'; i++) {
        const u = matchChunk(chunk, s.slice(i + 1));
        if (u !== undefined) {
          if (pat.length === 0 && u.length > 0) continue;
          s = u;
          continue pattern;
        }
      }
    }
    // before answering no, check that the rest of the pattern is well formed (as Go does)
    while (pat.length > 0) {
      const next = scanChunk(pat);
      pat = next.rest;
      matchChunk(next.chunk, []);
    }
    return false;
  }
  return s.length === 0;
}

/** Throws GoPatternError when Go's filepath.Match would return ErrBadPattern for this pattern. */
export function checkGoPattern(pattern: string): void {
  goMatch(pattern, '.');
}

/** True when the pattern has characters filepath.Match treats specially. */
export const hasGoWildcard = (p: string): boolean => /[*?[\\]/.test(p);

function scanChunk(pat: Cps): { star: boolean; chunk: Cps; rest: Cps } {
  let i = 0;
  let star = false;
  while (i < pat.length && pat[i] === '*') {
    i++;
    star = true;
  }
  const p = pat.slice(i);
  let inRange = false;
  let j = 0;
  scan: for (; j < p.length; j++) {
    switch (p[j]) {
      case '\\':
        if (j + 1 < p.length) j++;
        break;
      case '[':
        inRange = true;
        break;
      case ']':
        inRange = false;
        break;
      case '*':
        if (!inRange) break scan;
        break;
    }
  }
  return { star, chunk: p.slice(0, j), rest: p.slice(j) };
}

/** The rest of `s` after the chunk matched its start, or undefined; throws for a bad chunk. */
function matchChunk(chunkIn: Cps, sIn: Cps): Cps | undefined {
  let chunk = chunkIn;
  let s = sIn;
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    switch (chunk[0]) {
      case '[': {
        let r = '';
        if (!failed) {
          r = s[0] as string;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        let negated = false;
        if (chunk[0] === '^') {
          negated = true;
          chunk = chunk.slice(1);
        }
        let match = false;
        let nrange = 0;
        for (;;) {
          if (chunk.length > 0 && chunk[0] === ']' && nrange > 0) {
            chunk = chunk.slice(1);
            break;
          }
          const lo = getEsc(chunk);
          chunk = lo.rest;
          let hi = lo.r;
          if (chunk[0] === '-') {
            const h = getEsc(chunk.slice(1));
            hi = h.r;
            chunk = h.rest;
          }
          const cp = r.codePointAt(0) ?? -1;
          if ((lo.r.codePointAt(0) ?? 0) <= cp && cp <= (hi.codePointAt(0) ?? 0)) match = true;
          nrange++;
        }
        if (match === negated) failed = true;
        break;
      }
      case '?':
        if (!failed) {
          if (s[0] === '/') failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        break;
      default: {
        if (chunk[0] === '\\') {
          chunk = chunk.slice(1); // the escaped character is matched literally
          if (chunk.length === 0) throw new GoPatternError();
        }
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
      }
    }
  }
  return failed ? undefined : s;
}

function getEsc(chunkIn: Cps): { r: string; rest: Cps } {
  let chunk = chunkIn;
  if (chunk.length === 0 || chunk[0] === '-' || chunk[0] === ']') throw new GoPatternError();
  if (chunk[0] === '\\') {
    chunk = chunk.slice(1);
    if (chunk.length === 0) throw new GoPatternError();
  }
  const r = chunk[0] as string;
  const rest = chunk.slice(1);
  if (rest.length === 0) throw new GoPatternError();
  return { r, rest };
}
