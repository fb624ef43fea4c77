/**
 * Shell patterns of `${v#p}`, `${v%p}` and `${v/p/r}`, as BuildKit's shell/lex.go converts them to
 * Go regular expressions: `*`, `?`, and the escapes `\*` `\?` `\\` (`\}` and `\/` drop the
 * backslash); no bracket classes. Go's `.` does not match `\n` and nothing else special, so keel
 * writes `[^\n]` where JavaScript's `.` would also refuse `\r`, U+2028 and U+2029.
 */

import { KeelError } from '../../errors.js';

/** A shell pattern that does not compile (it becomes the expansion's error). */
export class PatternError extends KeelError {
  constructor(message: string) {
    super('E_EXPANSION', message);
  }
}

export function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const cps = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < cps.length; i++) {
    let tok = cps[i] as string;
    switch (tok) {
      case '*':
        out += star;
        continue;
      case '?':
        out += '[^\\n]';
        continue;
      case '\\': {
        const peek = cps[i + 1];
        if (peek === '}' || peek === '/') continue;
        out += '\\';
        i++;
        tok = cps[i] ?? '\ufffd'; // Go's %c of scanner.EOF prints U+FFFD
        if (tok !== '*' && tok !== '?' && tok !== '\\') throw new PatternError(`invalid escape '\\${tok}'`);
        break;
      }
      case '[': case ']': case '{': case '}': case '.': case '+':
      case '(': case ')': case '|': case '^': case '$':
        out += '\\';
        break;
    }
    out += tok;
  }
  return new RegExp(out, 'gu');
}

/** The first match of `re` in `s` as [start, end), or undefined. */
export function findIndex(re: RegExp, s: string): [number, number] | undefined {
  re.lastIndex = 0;
  const m = re.exec(s);
  return m === null ? undefined : [m.index, m.index + m[0].length];
}

/**
 * Go's regexp.ReplaceAllString: empty matches right after a match are not replaced, and `$name`
 * / `${name}` in the replacement expand to submatches (only `$0`, the match, exists here; any
 * other name is empty; `$$` is `$`).
 */
export function replaceAllGo(re: RegExp, src: string, repl: string): string {
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    re.lastIndex = searchPos;
    const m = re.exec(src);
    if (m === null) break;
    const start = m.index;
    const end = start + m[0].length;
    out += src.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandTemplate(repl, m[0]);
    lastMatchEnd = end;
    // advance past the match, and always by at least one character
    const width = (src.codePointAt(searchPos) ?? 0) > 0xffff ? 2 : 1;
    searchPos = Math.max(end, searchPos + width);
  }
  return out + src.slice(lastMatchEnd);
}

/** Replace only the first match, with the replacement taken literally (as BuildKit's `${v/p/r}` does). */
export function replaceFirst(re: RegExp, src: string, repl: string): string {
  const idx = findIndex(re, src);
  return idx === undefined ? src : src.slice(0, idx[0]) + repl + src.slice(idx[1]);
}

const nameChar = /[\p{L}\p{Nd}_]/u;

/** Go's Regexp.ExpandString for a regexp with no capture groups. */
function expandTemplate(template: string, match: string): string {
  if (!template.includes('$')) return template;
  let out = '';
  let i = 0;
  while (i < template.length) {
    const d = template.indexOf('$', i);
    if (d < 0) break;
    out += template.slice(i, d);
    i = d + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name = '';
    if (template[i] === '{') {
      const close = template.indexOf('}', i + 1);
      const inner = close < 0 ? '' : template.slice(i + 1, close);
      if (close < 0 || inner === '' || !Array.from(inner).every((c) => nameChar.test(c))) {
        out += '$'; // malformed: the `$` is kept as text
        continue;
      }
      name = inner;
      i = close + 1;
    } else {
      const start = i;
      for (const c of template.slice(i)) {
        if (!nameChar.test(c)) break;
        i += c.length;
      }
      name = template.slice(start, i);
      if (name === '') {
        out += '$';
        continue;
      }
    }
    if (/^[0-9]+$/.test(name) && Number(name) === 0) out += match;
  }
  return out + template.slice(i);
}

/** Reverse a pattern by code points, keeping each `\x` escape in front of its character. */
export function reversePattern(pattern: string): string {
  const cps = Array.from(pattern);
  const out: string[] = new Array<string>(cps.length);
  const last = cps.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = cps[i] as string;
    const o = last - i;
    if (tok === '\\' && i !== last) {
      out[o - 1] = tok;
      out[o] = cps[i + 1] as string;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join('');
}

export function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}
