/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`) at the top of a Dockerfile, as
 * BuildKit's parser/directives.go reads them, and the line-continuation rule the escape token sets.
 */
import type { Directive, DirectiveName, Range } from './ast.js';
import { skipGoSpace } from './go-text.js';

export type DirectiveLine =
  | { readonly kind: 'none' }
  | { readonly kind: 'directive'; readonly directive: Directive }
  | { readonly kind: 'error'; readonly message: string; readonly range: Range };

const NONE: DirectiveLine = { kind: 'none' };
const KNOWN: readonly DirectiveName[] = ['syntax', 'escape', 'check'];

// BuildKit: `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`. The value is trimmed by hand (valueOf)
// because a lazy group before `\s*$` backtracks quadratically on long runs of spaces.
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=([^\n]*)$/;
const isReSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;

/** What `\s*(.+?)\s*$` captures of the text after `=` ('' when it does not match). */
function valueOf(r: string): string {
  let start = 0;
  while (start < r.length && isReSpace(r.charCodeAt(start))) start++;
  if (start === r.length) return r.slice(-1); // all blanks: `.+?` still takes the last one
  let end = r.length;
  while (end > start && isReSpace(r.charCodeAt(end - 1))) end--;
  return r.slice(start, end);
}

/**
 * BuildKit's DirectiveParser: directives are read until the first line that is not one (an
 * instruction, a plain comment, a blank line, an unknown key); a repeated key is an error.
 */
export class DirectiveReader {
  private done = false;
  private readonly seen = new Set<DirectiveName>();

  /** One left-trimmed line: physical line `line`, whose text ends before column `endCol`. */
  read(token: string, line: number, endCol: number): DirectiveLine {
    if (this.done) return NONE;
    const m = token.startsWith('#') ? DIRECTIVE.exec(token.slice(skipGoSpace(token, 1))) : null;
    const name = m?.[1]?.toLowerCase() as DirectiveName | undefined;
    const value = valueOf(m?.[2] ?? '');
    if (name === undefined || value === '' || !KNOWN.includes(name)) {
      this.done = true;
      return NONE;
    }
    const range: Range = { start: { line, col: 1 }, end: { line, col: endCol } };
    if (this.seen.has(name)) return { kind: 'error', message: `only one ${name} parser directive can be used`, range };
    this.seen.add(name);
    if (name === 'escape' && value !== '`' && value !== '\\') {
      return { kind: 'error', message: `invalid escape token '${value}' does not match \` or \\`, range };
    }
    return { kind: 'directive', directive: { name, value, range } };
  }
}

/**
 * BuildKit trimContinuationCharacter's pattern for an escape token E: `([^E])E[ \t]*$|^E[ \t]*$`.
 * An escaped escape at the end of a line (`\\`) is therefore no continuation.
 */
export function continuationPattern(escape: '\\' | '`'): RegExp {
  const e = escape === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}
