/**
 * Heredoc headers on an instruction line (`<<EOF`, `<<-EOF`, `3<<'EOF'`), as BuildKit's
 * parser.go finds them: the line is split into shell words (quotes and escapes kept), and each
 * whole word is matched against `^(\d*)<<(-?)\s*([^<]*)$`.
 */
import { expandWords } from './shell/lex.js';

export interface HeredocHeader {
  readonly name: string;
  readonly fd: number;
  readonly expand: boolean;
  readonly chomp: boolean;
}

// Go's RE2 `\s` is [\t\n\f\r ] and `\d` is [0-9]
const HEREDOC = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

/**
 * BuildKit ParseHeredoc for one word: the header, or undefined when the word is not a heredoc.
 * Throws ExpansionError when the delimiter does not lex (BuildKit then fails the parse).
 */
export function parseHeredocWord(word: string): HeredocHeader | undefined {
  const m = HEREDOC.exec(word);
  if (m === null) return undefined;
  const rest = m[3] ?? '';
  if (rest === '') return undefined;
  const words = expandWords(rest, {}, { skipUnsetEnv: true });
  if (words.length !== 1) return undefined;
  const raw = expandWords(rest, {}, { skipUnsetEnv: true, rawQuotes: true });
  const name = words[0] as string;
  const quotes = (s: string): number => (s.match(/['"]/g) ?? []).length;
  return {
    name,
    fd: Number(m[1] === '' ? 0 : m[1]),
    chomp: m[2] === '-',
    // when removing quotes changed the text, part of the delimiter was quoted: no expansion
    expand: quotes(name) === quotes(raw[0] ?? ''),
  };
}

/** BuildKit heredocsFromLine: every heredoc header on the line, in order. */
export function heredocsFromLine(line: string): HeredocHeader[] {
  let words: string[];
  try {
    words = expandWords(line, {}, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  } catch {
    // BuildKit quirk: a line that does not lex (an unbalanced quote anywhere) has no heredocs
    return [];
  }
  const out: HeredocHeader[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h !== undefined) out.push(h);
  }
  return out;
}

/** BuildKit ChompHeredocContent: what `<<-` does to a body when it is used. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}
