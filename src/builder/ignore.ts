/**
 * `.dockerignore` and `COPY --exclude` patterns with moby/patternmatcher semantics: the file is
 * read as ignorefile.ReadAll reads it, patterns compile as patternmatcher's `compile` does, the
 * last matching pattern wins, and a path is matched when it or any parent directory matches
 * (MatchesOrParentMatches). reference/builders-semantics.md section 6 has the table of cases.
 */
import { posix } from 'node:path';
import { KeelError } from '../errors.js';
import { checkGoPattern, GoPatternError } from './go-match.js';

/** ignorefile.ReadAll: comment lines start with `#` at column 1; `!` marks an exception. */
export function readIgnoreFile(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] as string).replace(/\r$/, '');
    if (i === 0 && line.startsWith('\ufeff')) line = line.slice(1);
    if (line.startsWith('#')) continue;
    let pattern = line.trim();
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = posix.normalize(pattern).replace(/\/$/, '');
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  }
  return out;
}

type Matcher =
  | { readonly kind: 'exact'; readonly text: string }
  | { readonly kind: 'prefix'; readonly text: string }
  | { readonly kind: 'suffix'; readonly text: string }
  | { readonly kind: 'regexp'; readonly re: RegExp };

interface Pattern {
  readonly exclusion: boolean;
  readonly matcher: Matcher;
}

const ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

function compile(pattern: string): Matcher {
  const cps = Array.from(pattern);
  let re = '^';
  let type: Matcher['kind'] = 'exact';
  // `iteration` counts loop turns as patternmatcher's `i` does (a `**` is one turn)
  for (let i = 0, iteration = 0; i < cps.length; i++, iteration++) {
    const ch = cps[i] as string;
    if (ch === '*' && cps[i + 1] === '*') {
      i++;
      if (cps[i + 1] === '/') i++; // `**/` is `**`
      if (i + 1 >= cps.length) {
        if (type === 'exact') type = 'prefix';
        else {
          re += '.*';
          type = 'regexp';
        }
      } else {
        re += '(.*/)?';
        type = 'regexp';
      }
      if (iteration === 0) type = 'suffix';
    } else if (ch === '*') {
      re += '[^/]*';
      type = 'regexp';
    } else if (ch === '?') {
      re += '[^/]';
      type = 'regexp';
    } else if (ESCAPE.has(ch)) {
      re += '\\' + ch;
    } else if (ch === '\\') {
      if (i + 1 < cps.length) {
        re += '\\' + (cps[++i] as string);
        type = 'regexp';
      } else {
        re += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      re += ch;
      type = 'regexp';
    } else {
      re += ch;
    }
  }
  switch (type) {
    case 'exact':
      return { kind: 'exact', text: pattern };
    case 'prefix':
      return { kind: 'prefix', text: pattern.slice(0, -2) };
    case 'suffix':
      return { kind: 'suffix', text: pattern.slice(2) };
    case 'regexp':
      try {
        // no `u` flag: like Go's RE2, it takes a lone `]` as a literal
        return { kind: 'regexp', re: new RegExp(re + '$') };
      } catch {
        throw new GoPatternError();
      }
  }
}

function matches(m: Matcher, path: string): boolean {
  switch (m.kind) {
    case 'exact':
      return path === m.text;
    case 'prefix':
      return path.startsWith(m.text);
    case 'suffix':
      return path.endsWith(m.text) || (m.text.startsWith('/') && path === m.text.slice(1));
    case 'regexp':
      return m.re.test(path);
  }
}

export class PatternMatcher {
  private readonly patterns: readonly Pattern[];
  /** True when some `!` pattern exists (a walk must then look inside excluded folders). */
  readonly hasExclusions: boolean;

  constructor(patterns: readonly string[]) {
    const out: Pattern[] = [];
    for (const raw of patterns) {
      let p = raw.trim();
      if (p === '') continue;
      p = posix.normalize(p).replace(/(.)\/$/, '$1');
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw new KeelError('E_BUILD_INPUT', 'illegal exclusion pattern: "!"');
        exclusion = true;
        p = p.slice(1);
      }
      try {
        checkGoPattern(p);
        out.push({ exclusion, matcher: compile(p) });
      } catch (e) {
        if (e instanceof GoPatternError) throw new KeelError('E_BUILD_INPUT', `bad ignore pattern ${JSON.stringify(raw)}: ${e.message}`);
        throw e;
      }
    }
    this.patterns = out;
    this.hasExclusions = out.some((p) => p.exclusion);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** patternmatcher MatchesOrParentMatches for a slash path relative to the root. */
  matches(path: string): boolean {
    const parents = posix.dirname(path);
    const dirs = parents === '.' ? [] : parents.split('/');
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let match = matches(p.matcher, path);
      for (let i = 0; !match && i < dirs.length; i++) match = matches(p.matcher, dirs.slice(0, i + 1).join('/'));
      if (match) matched = !p.exclusion;
    }
    return matched;
  }
}
