/**
 * One logical line to a SyntaxNode: keyword, flags and argument list, as BuildKit's
 * parser/split_command.go and parser/line_parsers.go split them, plus a source range for each
 * token. Line parsers see the line as `text` with a LineMap; offsets below are into `text`.
 */
import { KeelError } from '../errors.js';
import { instructionKind, type Flag, type Heredoc, type InstructionKind, type SyntaxNode, type Word } from './ast.js';
import { goQuote, isGoSpace, skipGoSpace, trimEndGoSpace } from './go-text.js';
import type { LineMap } from './line-map.js';
import type { ParseErrorCode } from './errors.js';

/** A failure BuildKit's parser treats as fatal for the whole file (it becomes a ParseError). */
export class LineFailure extends KeelError {
  declare readonly code: ParseErrorCode;
  constructor(code: ParseErrorCode, message: string) {
    super(code, message);
  }
}

export interface LineContext {
  readonly text: string;
  readonly map: LineMap;
  readonly escape: '\\' | '`';
}

type Args = { args: Word[]; json: boolean; trigger?: SyntaxNode };

const WHITESPACE = /[\t\v\f\r ]+/g;
/** The characters of BuildKit's reWhitespace, `[\t\v\f\r ]`. */
const isSplitSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c || c === 0x0d;

function word(ctx: LineContext, value: string, start: number, end: number): Word {
  return { value, range: ctx.map.range(start, end) };
}

/**
 * BuildKit newNodeFromLine for the part of the line in [from, to): split the keyword and flags,
 * then hand the rest to the keyword's line parser. Heredocs are attached by the caller.
 */
export function nodeFromLine(ctx: LineContext, from: number, to: number): SyntaxNode {
  const text = ctx.text;
  const t0 = skipGoSpace(text, from);
  const t1 = Math.max(t0, trimEndGoSpace(text, to));
  let kwEnd = t0;
  while (kwEnd < t1 && !isSplitSpace(text.charCodeAt(kwEnd))) kwEnd++;
  const keyword = word(ctx, text.slice(t0, kwEnd), t0, kwEnd);

  let flags: Flag[] = NO_FLAGS;
  let restStart = t1;
  let restEnd = t1;
  if (kwEnd < t1) {
    let afterSep = kwEnd;
    while (afterSep < t1 && isSplitSpace(text.charCodeAt(afterSep))) afterSep++;
    const extracted = extractBuilderFlags(ctx, afterSep, t1);
    flags = extracted.flags;
    restStart = skipGoSpace(text, extracted.rest);
    restEnd = Math.max(restStart, trimEndGoSpace(text, t1));
  }
  const parsed = parseArgs(ctx, instructionKind(keyword.value), restStart, restEnd);
  return {
    keyword,
    flags,
    args: parsed.args,
    ...(parsed.trigger === undefined ? {} : { trigger: parsed.trigger }),
    json: parsed.json,
    heredocs: NO_HEREDOCS,
    original: text.slice(from, to),
    // the node starts where its keyword does (one position object shared)
    range: { start: keyword.range.start, end: t1 > t0 ? ctx.map.endPos(t1) : keyword.range.start },
  };
}

function parseArgs(ctx: LineContext, kind: InstructionKind | undefined, start: number, end: number): Args {
  switch (kind) {
    case 'ADD': case 'COPY': case 'VOLUME':
      return parseJSON(ctx, start, end) ?? { args: splitWhitespace(ctx, start, end), json: false };
    case 'CMD': case 'ENTRYPOINT': case 'RUN': case 'SHELL':
      if (start >= end) return { args: [], json: false };
      return parseJSON(ctx, start, end) ?? { args: [word(ctx, ctx.text.slice(start, end), start, end)], json: false };
    case 'HEALTHCHECK':
      return parseHealthConfig(ctx, start, end);
    case 'ENV':
      return { args: parseNameVal(ctx, start, end, 'ENV'), json: false };
    case 'LABEL':
      return { args: parseNameVal(ctx, start, end, 'LABEL'), json: false };
    case 'ARG':
      return { args: parseWords(ctx, start, end).map((w) => word(ctx, w.value, w.start, w.end)), json: false };
    case 'EXPOSE': case 'FROM':
      return { args: splitWhitespace(ctx, start, end), json: false };
    case 'MAINTAINER': case 'STOPSIGNAL': case 'USER': case 'WORKDIR':
      return { args: start >= end ? [] : [word(ctx, ctx.text.slice(start, end), start, end)], json: false };
    case 'ONBUILD':
      if (start >= end) return { args: [], json: false };
      return { args: [], json: false, trigger: nodeFromLine(ctx, start, end) };
    default:
      // parseIgnore: unknown instructions keep one empty argument
      return { args: [word(ctx, '', start, start)], json: false };
  }
}

/** BuildKit parseStringsWhitespaceDelimited: split on `[\t\v\f\r ]+`. */
function splitWhitespace(ctx: LineContext, start: number, end: number): Word[] {
  const text = ctx.text;
  const out: Word[] = [];
  let i = start;
  while (i < end) {
    const w = i;
    while (i < end && !isSplitSpace(text.charCodeAt(i))) i++;
    out.push(word(ctx, text.slice(w, i), w, i));
    while (i < end && isSplitSpace(text.charCodeAt(i))) i++;
  }
  return out;
}

/**
 * BuildKit parseJSON: the rest, left-trimmed, as a JSON array of strings. Undefined when it is not
 * valid JSON (the caller falls back to the shell form); a LineFailure when it is a valid array
 * with a non-string element.
 */
function parseJSON(ctx: LineContext, start: number, end: number): Args | undefined {
  const s = skipGoSpace(ctx.text, start);
  if (ctx.text.charCodeAt(s) !== 0x5b /* [ */ || s >= end) return undefined;
  const src = ctx.text.slice(s, end);
  let value: unknown;
  try {
    value = JSON.parse(src);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  // Go fails to decode a number beyond float64 range; that error is not "not strings" but a
  // decoding failure, so BuildKit falls back to the shell form.
  if (/[eE]/.test(src) && hasInfiniteNumber(value)) return undefined;
  if (!value.every((v): v is string => typeof v === 'string')) {
    throw new LineFailure('E_JSON_ARGS', 'when using JSON array syntax, arrays must be comprised of strings only');
  }
  const spans = jsonStringSpans(src);
  const args = value.map((v, i) => {
    const span = spans[i] ?? [0, src.length];
    // Go's decoder turns lone surrogates from \u escapes into U+FFFD
    return word(ctx, v.toWellFormed(), s + span[0], s + span[1]);
  });
  return { args, json: true };
}

function hasInfiniteNumber(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isFinite(v);
  if (Array.isArray(v)) return v.some(hasInfiniteNumber);
  if (typeof v === 'object' && v !== null) return Object.values(v).some(hasInfiniteNumber);
  return false;
}

/** [start, end) of each top-level string of a JSON array already known to be valid. */
function jsonStringSpans(src: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  for (let i = src.indexOf('[') + 1; i < src.length; i++) {
    if (src[i] !== '"') continue;
    const startQuote = i;
    for (i++; i < src.length && src[i] !== '"'; i++) if (src[i] === '\\') i++;
    spans.push([startQuote, i + 1]);
  }
  return spans;
}

/** BuildKit parseHealthConfig: the first word is the type (CMD, NONE), then as RUN. */
function parseHealthConfig(ctx: LineContext, start: number, end: number): Args {
  // BuildKit scans bytes with unicode.IsSpace; keel splits on ASCII whitespace only, which
  // agrees except inside multi-byte characters containing a 0x85 or 0xA0 byte.
  let sep = start;
  while (sep < end && !isAsciiSpace(ctx.text.charCodeAt(sep))) sep++;
  let next = sep;
  while (next < end && isAsciiSpace(ctx.text.charCodeAt(next))) next++;
  if (sep === start) return { args: [], json: false };
  const type = word(ctx, ctx.text.slice(start, sep), start, sep);
  if (next >= end) return { args: [type], json: false };
  const cmd = parseJSON(ctx, next, end) ?? { args: [word(ctx, ctx.text.slice(next, end), next, end)], json: false };
  return { args: [type, ...cmd.args], json: cmd.json };
}

const isAsciiSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

interface RawWord {
  value: string;
  start: number;
  end: number;
}

/**
 * BuildKit parseWords: quote-aware words with quotes and escapes kept in the text (they are
 * removed later, at expansion).
 */
function parseWords(ctx: LineContext, start: number, end: number): RawWord[] {
  const text = ctx.text;
  const esc = ctx.escape.charCodeAt(0);
  const words: RawWord[] = [];
  let inQuote = 0; // the quote character while inside quotes
  let inWord = false;
  let blankOK = false;
  let buf = '';
  let wStart = start;
  const flush = (at: number): void => {
    if (blankOK || buf.length > 0) words.push({ value: buf, start: wStart, end: at });
    buf = '';
    blankOK = false;
  };
  let pos = start;
  while (pos < end) {
    let ch = text.codePointAt(pos) ?? 0;
    let width = ch > 0xffff ? 2 : 1;
    if (!inWord && inQuote === 0) {
      if (isGoSpace(ch)) {
        pos += width;
        continue;
      }
      inWord = true;
      wStart = pos;
    }
    if (inQuote === 0) {
      if (isGoSpace(ch)) {
        inWord = false;
        flush(pos);
        pos += width;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        inQuote = ch; // the quote stays in the word's text
        blankOK = true;
      }
    } else if (ch === inQuote) {
      inQuote = 0;
    }
    // the escape character keeps the next character literal (both stay in the text), except
    // inside single quotes; a lone escape at the end of the line is dropped
    if (ch === esc && inQuote !== 0x27) {
      if (pos + width === end) {
        inQuote = 0;
        pos += width;
        continue;
      }
      buf += String.fromCodePoint(ch);
      pos += width;
      ch = text.codePointAt(pos) ?? 0;
      width = ch > 0xffff ? 2 : 1;
    }
    buf += String.fromCodePoint(ch);
    pos += width;
  }
  if (inWord || inQuote !== 0) flush(end);
  return words;
}

/**
 * BuildKit parseNameVal (ENV, LABEL): `KEY value...` (legacy, one pair) or `K=V ...`, as triples
 * key, value, separator (`=` or '' for legacy).
 */
function parseNameVal(ctx: LineContext, start: number, end: number, key: 'ENV' | 'LABEL'): Word[] {
  const words = parseWords(ctx, start, end);
  const first = words[0];
  if (first === undefined) return [];
  if (!first.value.includes('=')) {
    const rest = ctx.text.slice(start, end);
    WHITESPACE.lastIndex = 0;
    const m = WHITESPACE.exec(rest);
    if (m === null) throw new LineFailure('E_KEY_VALUE', `${key} must have two arguments`);
    const valueStart = start + m.index + m[0].length;
    return [
      word(ctx, rest.slice(0, m.index), start, start + m.index),
      word(ctx, ctx.text.slice(valueStart, end), valueStart, end),
      word(ctx, '', end, end),
    ];
  }
  const out: Word[] = [];
  for (const w of words) {
    const eq = w.value.indexOf('=');
    if (eq < 0) {
      throw new LineFailure(
        'E_KEY_VALUE',
        `Syntax error - can't find = in ${goQuote(w.value)}. Must be of the form: name=value`,
      );
    }
    // the word's text maps one-to-one onto the source (parseWords keeps every character)
    const at = w.start + eq;
    out.push(word(ctx, w.value.slice(0, eq), w.start, at));
    out.push(word(ctx, w.value.slice(eq + 1), at + 1, w.end));
    out.push(word(ctx, '=', at, at + 1));
  }
  return out;
}

/**
 * BuildKit extractBuilderFlags: leading `--` words are flags, unquoted and unescaped; a bare `--`
 * ends them. BuildKit walks the line byte by byte, so a flag's non-ASCII characters come out as
 * one Latin-1 character per UTF-8 byte (`--chown=é` is `--chown=Ã©`), and keel does the same to
 * print the same dump. Returns the flags and the offset where the arguments start.
 */
function extractBuilderFlags(ctx: LineContext, from: number, to: number): { flags: Flag[]; rest: number } {
  // fast path: leading ASCII blanks (the only bytes a UTF-8 text can start with that Go calls space),
  // then anything but `--` means no flags
  let p = from;
  while (p < to && isGoSpace(ctx.text.charCodeAt(p)) && ctx.text.charCodeAt(p) < 0x80) p++;
  if (ctx.text.charCodeAt(p) !== 0x2d || ctx.text.charCodeAt(p + 1) !== 0x2d || p + 1 >= to) return { flags: NO_FLAGS, rest: p };
  const line = ctx.text.slice(from, to);
  // ASCII text is its own byte sequence; only other text goes through a UTF-8 copy
  const ascii = !NON_ASCII.test(line);
  const utf8 = ascii ? undefined : Buffer.from(line, 'utf8');
  const length = utf8 === undefined ? line.length : utf8.length;
  const byteAt = (i: number): number => (utf8 === undefined ? line.charCodeAt(i) : (utf8[i] as number));
  const charAt = utf8 === undefined ? (b: number): number => b : utf8ToCharOffsets(line, utf8.length);
  const esc = ctx.escape.charCodeAt(0);
  let flags: Flag[] = NO_FLAGS;
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = 0;
  let blankOK = false;
  let buf = '';
  let wordStart = 0;
  const push = (endByte: number): void => {
    const start = from + charAt(wordStart);
    const end = from + charAt(endByte);
    if (flags === NO_FLAGS) flags = [];
    flags.push(flagOf(buf, ctx.map.range(start, end)));
  };
  const isByteSpace = (b: number): boolean => isGoSpace(b);

  for (let pos = 0; pos <= length; pos++) {
    const atEnd = pos === length;
    let ch = atEnd ? 0 : byteAt(pos);
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isByteSpace(ch)) continue;
      if (ch !== 0x2d || pos + 1 === length || byteAt(pos + 1) !== 0x2d) {
        return { flags, rest: from + charAt(pos) };
      }
      phase = 'word';
      wordStart = pos;
    }
    if (atEnd) {
      if (buf !== '--' && (blankOK || buf.length > 0)) push(pos);
      break;
    }
    if (phase === 'word') {
      if (isByteSpace(ch)) {
        phase = 'spaces';
        if (buf === '--') return { flags, rest: from + charAt(pos) };
        if (blankOK || buf.length > 0) push(pos);
        buf = '';
        blankOK = false;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === esc) {
        if (pos + 1 === length) continue;
        pos++;
        ch = byteAt(pos);
      }
      buf += String.fromCharCode(ch);
      continue;
    }
    // phase === 'quote'
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === esc) {
      if (pos + 1 === length) {
        phase = 'word';
        continue;
      }
      pos++;
      ch = byteAt(pos);
    }
    buf += String.fromCharCode(ch);
  }
  return { flags, rest: to };
}

const NON_ASCII = /[^\x00-\x7f]/;

const NO_FLAGS: Flag[] = [];
const NO_HEREDOCS: Heredoc[] = [];

function flagOf(raw: string, range: Flag['range']): Flag {
  const eq = raw.indexOf('=');
  const name = eq < 0 ? raw.slice(2) : raw.slice(2, eq);
  return eq < 0 ? { raw, name, range } : { raw, name, value: raw.slice(eq + 1), range };
}

/** For a string with non-ASCII characters: UTF-8 byte offset -> UTF-16 offset of its character. */
function utf8ToCharOffsets(s: string, byteLength: number): (b: number) => number {
  const table = new Int32Array(byteLength + 1);
  let b = 0;
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i) ?? 0;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (let k = 0; k < n; k++) table[b + k] = i;
    b += n;
    i += cp > 0xffff ? 2 : 1;
  }
  table[byteLength] = s.length;
  return (off) => table[off] ?? s.length;
}

