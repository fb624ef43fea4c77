/**
 * The few Go text primitives BuildKit's Dockerfile front end leans on, with Go's exact semantics:
 * unicode.IsSpace, strings.TrimSpace, strconv.Quote and util/suggest's "did you mean".
 * JavaScript's own versions differ in corners (`\s` matches U+FEFF but not U+0085, for one),
 * and those corners decide whether a dump is byte-exact.
 */

/** Go's unicode.IsSpace: the Unicode White_Space property (U+0085 and U+00A0 included, U+FEFF not). */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) {
    return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0;
  }
  return (
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/** Index of the first code unit that is not Go whitespace, from `from`. */
export function skipGoSpace(s: string, from = 0): number {
  let i = from;
  while (i < s.length) {
    const cp = s.charCodeAt(i);
    // every Go space is in the BMP, so one code unit is one code point here
    if (!isGoSpace(cp)) break;
    i++;
  }
  return i;
}

/** One past the last code unit that is not Go whitespace. */
export function trimEndGoSpace(s: string, to = s.length): number {
  let i = to;
  while (i > 0 && isGoSpace(s.charCodeAt(i - 1))) i--;
  return i;
}

/** Go's strings.TrimSpace. */
export function goTrimSpace(s: string): string {
  const start = skipGoSpace(s);
  return s.slice(start, Math.max(start, trimEndGoSpace(s)));
}

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Go's strconv.Quote for a string that is valid UTF-16 (lone surrogates print as U+FFFD would). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === 0x22) out += '\\"';
    else if (cp === 0x5c) out += '\\\\';
    else if (cp === 0x20 || (cp < 0x80 ? cp > 0x20 && cp < 0x7f : printable.test(ch))) {
      out += cp >= 0xd800 && cp <= 0xdfff ? '\ufffd' : ch;
    } else {
      switch (cp) {
        case 0x07: out += '\\a'; break;
        case 0x08: out += '\\b'; break;
        case 0x0c: out += '\\f'; break;
        case 0x0a: out += '\\n'; break;
        case 0x0d: out += '\\r'; break;
        case 0x09: out += '\\t'; break;
        case 0x0b: out += '\\v'; break;
        default:
          if (cp >= 0xd800 && cp <= 0xdfff) out += '\ufffd';
          else if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex(cp, 2);
          else if (cp < 0x10000) out += '\\u' + hex(cp, 4);
          else out += '\\U' + hex(cp, 8);
      }
    }
  }
  return out + '"';
}

/** Levenshtein distance over code points (agext/levenshtein with default costs). */
export function levenshtein(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  let prev = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[y.length] ?? 0;
}

function matchCase(val: string, orig: string): string {
  if (orig === orig.toLowerCase()) return val.toLowerCase();
  if (orig === orig.toUpperCase()) return val.toUpperCase();
  return val;
}

/**
 * BuildKit's util/suggest.Search: the closest option under distance 3, or undefined when there
 * is none or `val` is itself an option. BuildKit walks a Go map (random order) so ties are
 * unspecified there; keel takes the first closest in the order given.
 */
export function suggest(val: string, options: readonly string[], caseSensitive: boolean): string | undefined {
  const v = caseSensitive ? val : val.toLowerCase();
  let match: string | undefined;
  let min = 3;
  for (const option of options) {
    const o = caseSensitive ? option : option.toLowerCase();
    if (o === v) return undefined;
    const d = levenshtein(v, o);
    if (d < min) {
      match = caseSensitive ? o : matchCase(o, val);
      min = d;
    }
  }
  return match;
}

/** `message (did you mean X?)` when there is a suggestion, as util/suggest.WrapError words it. */
export function withSuggestion(message: string, val: string, options: readonly string[], caseSensitive: boolean): string {
  const match = suggest(val, options, caseSensitive);
  return match === undefined ? message : `${message} (did you mean ${match}?)`;
}
