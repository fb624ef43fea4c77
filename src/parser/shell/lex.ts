/**
 * Shell-word processing as BuildKit's frontend/dockerfile/shell/lex.go does it: quotes, escapes,
 * `$VAR`, `${VAR}` and the `${VAR<modifier>...}` forms, with the same results and error texts.
 * The structure follows lex.go (processStopOn, processDollar, ...) so that a reader can hold the
 * two side by side; the quirks it keeps on purpose are marked "BuildKit quirk".
 */
import { KeelError } from '../../errors.js';
import { goQuote, isGoSpace } from '../go-text.js';
import {
  PatternError,
  findIndex,
  replaceAllGo,
  replaceFirst,
  reversePattern,
  reverseString,
  shellPatternToRegExp,
} from './pattern.js';

/** Variables for expansion: a plain object (own keys only) or a Map. */
export type Env = Readonly<Record<string, string>> | ReadonlyMap<string, string>;

export interface LexOptions {
  /** The escape character, as set by the `# escape=` directive. @default '\\' */
  readonly escape?: '\\' | '`';
  /** Keep quote characters in the result. @default false */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result. @default false */
  readonly rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. @default false */
  readonly skipProcessQuotes?: boolean;
  /** Leave `$X` / `${X...}` text in place when X is not set. @default false */
  readonly skipUnsetEnv?: boolean;
}

export interface ExpansionMatches {
  readonly result: string;
  /** Variables that were looked up and found. */
  readonly matched: ReadonlySet<string>;
  /** Variables that were looked up and not found. */
  readonly unmatched: ReadonlySet<string>;
}

export class ExpansionError extends KeelError {
  override name = 'ExpansionError';
  constructor(
    message: string,
    /** The word that failed to expand. */
    readonly word: string,
  ) {
    super('E_EXPANSION', message);
  }
}

/** BuildKit ProcessWord: quotes and escapes removed, variables expanded, spaces kept. */
export function expandWord(word: string, env: Env, options: LexOptions = {}): string {
  return new ShellWord(word, env, options, true).run().result;
}

/** BuildKit ProcessWordWithMatches: expandWord plus which variables were found and which were not. */
export function expandWordWithMatches(word: string, env: Env, options: LexOptions = {}): ExpansionMatches {
  const sw = new ShellWord(word, env, options, true);
  const { result } = sw.run();
  return { result, matched: sw.matched, unmatched: sw.unmatched };
}

/** BuildKit ProcessWords: expandWord, then split on unquoted whitespace (expanded text splits too). */
export function expandWords(word: string, env: Env, options: LexOptions = {}): string[] {
  return new ShellWord(word, env, options, false).run().words;
}

const EOF = -1;

function lookup(env: Env, name: string): string | undefined {
  if (env instanceof Map) return (env as ReadonlyMap<string, string>).get(name);
  const record = env as Readonly<Record<string, string>>;
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

const isDigit = (cp: number): boolean => /\p{Nd}/u.test(String.fromCodePoint(cp));
const isLetter = (cp: number): boolean => /\p{L}/u.test(String.fromCodePoint(cp));
const isSpecialParam = (cp: number): boolean => '@*#?-$!0'.includes(String.fromCodePoint(cp));
const chr = (cp: number): string => (cp === EOF ? '\ufffd' : String.fromCodePoint(cp));

/** Words being split out of the text; `buf` is shared by nested calls (see processStopOn). */
class WordSplitter {
  readonly words: string[] = [];
  private inWord = false;
  constructor(private readonly buf: { s: string }) {}

  addChar(cp: number): void {
    if (isGoSpace(cp)) {
      if (this.inWord && this.buf.s.length !== 0) {
        this.words.push(this.buf.s);
        this.buf.s = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(cp);
    }
  }
  addRawChar(cp: number): void {
    this.buf.s += String.fromCodePoint(cp);
    this.inWord = true;
  }
  addString(s: string): void {
    for (const c of s) this.addChar(c.codePointAt(0) ?? 0);
  }
  addRawString(s: string): void {
    this.buf.s += s;
    this.inWord = true;
  }
  getWords(): string[] {
    if (this.buf.s.length > 0) {
      this.words.push(this.buf.s);
      this.buf.s = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class ShellWord {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private pos = 0;
  private started = false;
  private rawEscapes: boolean;
  private readonly escape: number;
  /** BuildKit quirk: one words buffer for the whole word, reset by every nested processStopOn. */
  private readonly wordsBuffer = { s: '' };

  constructor(
    private readonly src: string,
    private readonly env: Env,
    private readonly opts: LexOptions,
    private readonly capture: boolean,
  ) {
    this.escape = (opts.escape ?? '\\').charCodeAt(0);
    this.rawEscapes = opts.rawEscapes ?? false;
  }

  run(): { result: string; words: string[] } {
    try {
      return this.processStopOn(EOF, this.rawEscapes);
    } catch (e) {
      if (e instanceof LexFailure) {
        throw new ExpansionError(`failed to process ${goQuote(this.src)}: ${e.message}`, this.src);
      }
      throw e;
    }
  }

  // --- Go text/scanner's Peek/Next over code points (a leading BOM is skipped, as there) ---
  private peek(): number {
    if (!this.started) {
      this.started = true;
      if (this.src.codePointAt(0) === 0xfeff) this.pos = 1;
    }
    return this.pos < this.src.length ? (this.src.codePointAt(this.pos) ?? EOF) : EOF;
  }
  private next(): number {
    const cp = this.peek();
    if (cp !== EOF) this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  private processStopOn(stopChar: number, rawEscapes: boolean): { result: string; words: string[] } {
    let result = '';
    this.wordsBuffer.s = '';
    const words = new WordSplitter(this.wordsBuffer);
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        const ch = this.peek();
        if (stopChar !== EOF && ch === stopChar) {
          this.next();
          return { result, words: words.getWords() };
        }
        const special = this.special(ch);
        if (special !== undefined) {
          const tmp = special();
          result += tmp;
          if (ch === 0x24 /* $ */) words.addString(tmp);
          else words.addRawString(tmp);
          continue;
        }
        let c = this.next();
        if (c === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += chr(c);
          }
          c = this.next();
          if (c === EOF) break;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += chr(c);
      }
      if (stopChar !== EOF) {
        throw new LexFailure(`unexpected end of statement while looking for matching ${chr(stopChar)}`);
      }
      return { result, words: words.getWords() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private special(ch: number): (() => string) | undefined {
    switch (ch) {
      case 0x24: return () => this.processDollar();
      case 0x3c: return () => this.processPossibleHeredoc();
      case 0x27: return this.opts.skipProcessQuotes ? undefined : () => this.processSingleQuote();
      case 0x22: return this.opts.skipProcessQuotes ? undefined : () => this.processDoubleQuote();
      default: return undefined;
    }
  }

  private processSingleQuote(): string {
    const raw = this.opts.rawQuotes ?? false;
    let result = '';
    let ch = this.next();
    if (raw) result += chr(ch);
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new LexFailure('unexpected end of statement while looking for matching single-quote');
      if (ch === 0x27) {
        if (raw) result += chr(ch);
        return result;
      }
      result += chr(ch);
    }
  }

  private processDoubleQuote(): string {
    const raw = this.opts.rawQuotes ?? false;
    let result = '';
    const open = this.next();
    if (raw) result += chr(open);
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new LexFailure('unexpected end of statement while looking for matching double-quote');
      if (p === 0x22) {
        const close = this.next();
        if (raw) result += chr(close);
        return result;
      }
      if (p === 0x24) {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) result += chr(ch);
        const q = this.peek();
        if (q === EOF) continue; // a lone escape at the end of the word is dropped
        if (q === 0x22 || q === 0x24 || q === this.escape) ch = this.next();
      }
      result += chr(ch);
    }
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== 0x7b /* { */) {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv) return '$' + name;
      return value ?? '';
    }
    this.next();
    switch (this.peek()) {
      case EOF:
        throw new LexFailure("syntax error: missing '}'");
      case 0x7b: case 0x7d: case 0x3a: // ${{ ${} ${:
        throw new LexFailure('syntax error: bad substitution');
    }
    const name = this.processName();
    let ch = this.next();
    let chs = chr(ch);
    let nullIsUnset = false;
    switch (ch) {
      case 0x7d: { // ${name}
        const value = this.getEnv(name);
        if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}}`;
        return value ?? '';
      }
      case 0x3a: // ':' then one of the modifiers below (Go's fallthrough)
        nullIsUnset = true;
        ch = this.next();
        chs += chr(ch);
        return this.modifier(name, ch, chs, nullIsUnset);
      case 0x2b: case 0x2d: case 0x3f: case 0x23: case 0x25: // + - ? # %
        return this.modifier(name, ch, chs, nullIsUnset);
      case 0x2f: // '/'
        return this.substitute(name);
      default:
        throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private modifier(name: string, ch: number, chs: string, nullIsUnset: boolean): string {
    const patternOp = ch === 0x23 || ch === 0x25;
    if (nullIsUnset && patternOp) throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
    let word: string;
    try {
      word = this.processStopOn(0x7d, patternOp).result;
    } catch (e) {
      if (e instanceof LexFailure && this.peek() === EOF) throw new LexFailure("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    const set = value !== undefined;
    if (this.opts.skipUnsetEnv && !set) return `\${${name}${chs}${word}}`;
    const empty = !set || (nullIsUnset && value === '');
    switch (ch) {
      case 0x2d: // -
        return empty ? word : (value ?? '');
      case 0x2b: // +
        return empty ? '' : word;
      case 0x3f: // ?
        if (!set) throw new LexFailure(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new LexFailure(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        return value;
      case 0x25: case 0x23: { // % %% # ##
        const greedy = word.length > 0 && word.codePointAt(0) === ch;
        const pattern = greedy ? word.slice(1) : word;
        return ch === 0x25 ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
      }
      default:
        throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private substitute(name: string): string {
    const replaceAll = this.peek() === 0x2f;
    if (replaceAll) this.next();
    let pattern: string;
    try {
      pattern = this.processStopOn(0x2f, true).result;
    } catch (e) {
      if (e instanceof LexFailure && this.peek() === EOF) throw new LexFailure("syntax error: missing '/' in ${}");
      throw e;
    }
    let replacement: string;
    try {
      replacement = this.processStopOn(0x7d, true).result;
    } catch (e) {
      if (e instanceof LexFailure && this.peek() === EOF) throw new LexFailure("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    if (this.opts.skipUnsetEnv && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
    const re = compile(pattern, true, false);
    return replaceAll ? replaceAllGo(re, value ?? '', replacement) : replaceFirst(re, value ?? '', replacement);
  }

  private processName(): string {
    let name = '';
    for (;;) {
      const ch = this.peek();
      if (ch === EOF) break;
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += chr(this.next());
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return chr(this.next());
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += chr(this.next());
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== 0x3c) return '<';
    this.next();
    let space = '';
    for (let c = this.peek(); c === 0x09 || c === 0x0d || c === 0x20; c = this.peek()) {
      space += chr(c);
      this.next();
    }
    return '<<' + space;
  }

  private getEnv(name: string): string | undefined {
    const v = lookup(this.env, name);
    if (this.capture) (v === undefined ? this.unmatched : this.matched).add(name);
    return v;
  }
}

/** A lexing failure before it is wrapped with the word ("failed to process ..."). */
class LexFailure extends KeelError {
  constructor(message: string) {
    super('E_EXPANSION', message);
  }
}

function compile(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  try {
    return shellPatternToRegExp(pattern, greedy, anchored);
  } catch (e) {
    if (e instanceof PatternError) throw new LexFailure(`invalid pattern (${pattern}) in substitution: ${e.message}`);
    throw e;
  }
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const idx = findIndex(compile(pattern, greedy, true), value);
  return idx === undefined ? value : value.slice(idx[1]);
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // regular expressions can't find the shortest rightmost match, so BuildKit reverses both
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}
