/**
 * Dockerfile text to AST. The loop mirrors BuildKit's frontend/dockerfile/parser/parser.go
 * `Parse` step for step (directives, comments, continuations, heredoc bodies), then each line
 * goes through line-parsers.ts (BuildKit's node) and instructions.ts (BuildKit's typed command).
 *
 * Where BuildKit stops at the first parser-level error, keel records it and carries on with the
 * next line, so that `recover: true` can return everything readable (SPEC.md section 3).
 */
import type {
  Comment, Directive, Dockerfile, Heredoc, Pos, Instruction, InvalidInstruction, ParseWarning,
  Range, SyntaxNode,
} from './ast.js';
import { ParseError, type ParseErrorCode } from './errors.js';
import { InstructionFailure } from './flags.js';
import { goTrimSpace, isGoSpace, skipGoSpace } from './go-text.js';
import { continuationPattern, DirectiveReader } from './directives.js';
import { heredocsFromLine } from './heredoc.js';
import { toInstruction } from './instructions.js';
import { instructionKind } from './ast.js';
import { LineMap } from './line-map.js';
import { LineFailure, nodeFromLine } from './line-parsers.js';
import { ExpansionError } from './shell/lex.js';

export interface ParseOptions {
  /** Used in error messages. @default 'Dockerfile' */
  readonly filename?: string;
  /** Return the AST and every problem instead of throwing. @default false */
  readonly recover?: boolean;
}

/** What `parse(text, { recover: true })` returns: all it could read, and every problem. */
export interface RecoveredDockerfile extends Dockerfile<Instruction | InvalidInstruction> {
  readonly errors: readonly ParseError[];
}

/** The longest physical line BuildKit reads (bufio.MaxScanTokenSize - 1 bytes). */
const MAX_LINE_BYTES = 65535;

/**
 * Parse a Dockerfile. Throws a ParseError (listing every problem in `.errors`) unless
 * `recover` is set; never throws anything else.
 */
export function parse(text: string, options?: ParseOptions & { readonly recover?: false }): Dockerfile;
export function parse(text: string, options: ParseOptions & { readonly recover: true }): RecoveredDockerfile;
export function parse(text: string, options: ParseOptions = {}): Dockerfile | RecoveredDockerfile {
  const result = new Parser(text, options.filename).run();
  if (options.recover === true) return result;
  const first = result.errors[0];
  if (first !== undefined) {
    throw new ParseError(first.code, first.message, first.range, first.filename, result.errors);
  }
  const { errors: _errors, ...dockerfile } = result;
  return dockerfile as Dockerfile;
}

interface PhysicalLine {
  /** 1-based line number. */
  readonly n: number;
  /** The line with trailing CR/LF characters removed (BuildKit trimNewline). */
  readonly content: string;
  /** Offsets of the line in the text: [start, end), `end` after its `\n`. */
  readonly start: number;
  readonly end: number;
}

const LINE_TOO_LONG = Symbol('line too long');
/** Shared by every instruction without comments above it (never mutated). */
const NO_COMMENTS: string[] = [];

/** Physical lines, one at a time, as BuildKit's scanner hands them out. */
class Lines {
  private offset = 0;
  private n = 0;
  constructor(private readonly text: string) {}

  next(): PhysicalLine | typeof LINE_TOO_LONG | undefined {
    const text = this.text;
    const start = this.offset;
    if (start >= text.length) return undefined;
    const nl = text.indexOf('\n', start);
    const bodyEnd = nl < 0 ? text.length : nl;
    this.n++;
    // UTF-8 is at most 3 bytes per UTF-16 unit, so only long lines need counting
    if ((bodyEnd - start) * 3 > MAX_LINE_BYTES && Buffer.byteLength(text.slice(start, bodyEnd)) > MAX_LINE_BYTES) {
      return LINE_TOO_LONG;
    }
    let contentEnd = bodyEnd;
    while (contentEnd > start && (text.charCodeAt(contentEnd - 1) === 0x0d || text.charCodeAt(contentEnd - 1) === 0x0a)) contentEnd--;
    this.offset = nl < 0 ? text.length : nl + 1;
    return { n: this.n, content: text.slice(start, contentEnd), start, end: this.offset };
  }

  /** The line as written, line ending included (heredoc bodies keep it). */
  raw(line: PhysicalLine): string {
    return this.text.slice(line.start, line.end);
  }

  get lineNumber(): number {
    return this.n;
  }
}

const isComment = (line: string): boolean => line.charCodeAt(skipGoSpace(line)) === 0x23; /* # */

class Parser {
  private readonly lines: Lines;
  private escape: '\\' | '`' = '\\';
  private continuation = continuationPattern('\\');
  private readonly directiveReader = new DirectiveReader();
  private readonly directives: Directive[] = [];
  private readonly comments: Comment[] = [];
  private readonly warnings: ParseWarning[] = [];
  private readonly errors: ParseError[] = [];
  private readonly instructions: Array<Instruction | InvalidInstruction> = [];
  private lastLine: PhysicalLine | undefined;
  private seenFrom = false;

  constructor(
    text: string,
    private readonly filename: string | undefined,
  ) {
    this.lines = new Lines(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  }

  run(): RecoveredDockerfile {
    let prevComments: string[] = NO_COMMENTS;
    for (;;) {
      const line = this.nextLine();
      if (line === undefined) break;

      const comment = isComment(line.content);
      if (comment) {
        const text = goTrimSpace(line.content.slice(1));
        if (text === '') prevComments = NO_COMMENTS;
        else if (prevComments === NO_COMMENTS) prevComments = [text];
        else prevComments.push(text);
      }
      const lead = skipGoSpace(line.content);
      const token = line.content.slice(lead);
      if (this.directive(token, line)) {
        prevComments = prevComments.slice(0, -1);
        continue;
      }
      if (comment) {
        this.addComment(line);
        continue;
      }

      const startLine = line.n;
      const map = new LineMap();
      const cut = this.continuedLength(token);
      let joined = cut < 0 ? token : token.slice(0, cut);
      let ended = cut < 0;
      if (ended && joined === '') continue;
      map.add(joined.length, line.n, lead + 1);

      let emptyContinuation = false;
      while (!ended) {
        const next = this.nextLine();
        if (next === undefined) break;
        if (isComment(next.content)) {
          this.addComment(next);
          continue;
        }
        if (skipGoSpace(next.content) === next.content.length) {
          emptyContinuation = true;
          continue;
        }
        const cutNext = this.continuedLength(next.content);
        ended = cutNext < 0;
        const part = ended ? next.content : next.content.slice(0, cutNext);
        map.add(part.length, next.n, 1);
        joined += part;
      }

      if (emptyContinuation) this.warnEmptyContinuation(joined);
      this.instruction(joined, map, startLine, prevComments);
      prevComments = NO_COMMENTS;
    }

    if (this.instructions.length === 0 && !this.errors.some((e) => e.code === 'E_LINE_TOO_LONG')) {
      const n = Math.max(this.lines.lineNumber, 1);
      this.error('E_NO_INSTRUCTIONS', 'file with no instructions', lineRange(n, n));
    }
    return {
      ...(this.filename === undefined ? {} : { filename: this.filename }),
      escapeToken: this.escape,
      directives: this.directives,
      instructions: this.instructions,
      comments: this.comments,
      warnings: this.warnings,
      errors: this.errors,
    };
  }

  private nextLine(): PhysicalLine | undefined {
    const line = this.lines.next();
    if (line === LINE_TOO_LONG) {
      const n = this.lines.lineNumber;
      this.error('E_LINE_TOO_LONG', `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`, lineRange(n, n));
      return undefined; // BuildKit's scanner stops here
    }
    if (line !== undefined) this.lastLine = line;
    return line;
  }

  /** BuildKit DirectiveParser.ParseLine on a left-trimmed line; true when it was a directive. */
  private directive(token: string, line: PhysicalLine): boolean {
    const read = this.directiveReader.read(token, line.n, line.content.length + 1);
    switch (read.kind) {
      case 'none':
        return false;
      case 'error':
        this.error('E_DIRECTIVE', read.message, read.range);
        return true;
      case 'directive':
        if (read.directive.name === 'escape') {
          this.escape = read.directive.value as '\\' | '`';
          this.continuation = continuationPattern(this.escape);
        }
        this.directives.push(read.directive);
        return true;
    }
  }

  /**
   * BuildKit trimContinuationCharacter: how much of the line to keep when it ends in the escape
   * character (a continuation), or -1 when the instruction ends on this line.
   */
  private continuedLength(line: string): number {
    const m = this.continuation.exec(line);
    return m === null ? -1 : m.index + (m[1]?.length ?? 0);
  }

  private addComment(line: PhysicalLine): void {
    const start = skipGoSpace(line.content);
    this.comments.push({
      text: goTrimSpace(line.content.slice(start + 1)),
      range: lineRange(line.n, line.n, line.content.length + 1, start + 1),
    });
  }

  private warnEmptyContinuation(joined: string): void {
    const n = this.lines.lineNumber;
    this.warnings.push({
      rule: 'NoEmptyContinuation',
      message: `Empty continuation line found in: ${joined}`,
      detail: 'Empty continuation lines will become errors in a future release',
      url: 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/',
      range: lineRange(n, n),
    });
  }

  /** One logical line: the node, its heredoc bodies, then the typed instruction. */
  private instruction(joined: string, map: LineMap, startLine: number, comments: readonly string[]): void {
    const ctx = { text: joined, map, escape: this.escape };
    let node: SyntaxNode;
    try {
      node = nodeFromLine(ctx, 0, joined.length);
    } catch (e) {
      if (!(e instanceof LineFailure)) throw e;
      this.error(e.code, e.message, this.spanTo(startLine));
      this.instructions.push(this.invalid(this.bareNode(ctx), comments, 'line'));
      return;
    }

    let level: 'ok' | 'line' = 'ok';
    const heredocs: Heredoc[] = [];
    if (canContainHeredoc(node) && joined.includes('<<')) {
      let headers: ReturnType<typeof heredocsFromLine> = [];
      try {
        headers = heredocsFromLine(joined);
      } catch (e) {
        if (!(e instanceof ExpansionError)) throw e;
        this.error('E_HEREDOC', e.message, this.spanTo(startLine));
        level = 'line';
      }
      for (const h of headers) {
        const body = this.heredocBody(h.name, h.chomp);
        heredocs.push({ ...h, content: body.content, range: body.range });
        if (!body.terminated) {
          this.error('E_HEREDOC', 'unterminated heredoc', this.spanTo(startLine));
          level = 'line';
          break;
        }
      }
    }

    const end = this.lastLine === undefined ? node.range.end : { line: this.lastLine.n, col: this.lastLine.content.length + 1 };
    // the node and its range are fresh objects: extend them to the last line read (heredoc bodies)
    if (heredocs.length > 0) (node as { heredocs: readonly Heredoc[] }).heredocs = heredocs;
    (node.range as { end: Pos }).end = end;
    if (level === 'line') {
      this.instructions.push(this.invalid(node, comments, 'line'));
      return;
    }
    try {
      const ins = toInstruction(node, comments);
      this.checkStage(ins);
      this.instructions.push(ins);
    } catch (e) {
      if (!(e instanceof InstructionFailure)) throw e;
      this.error(e.code, e.message, e.range ?? node.range);
      if (instructionKind(node.keyword.value) === 'FROM') this.seenFrom = true; // no cascade of E_NO_STAGE
      this.instructions.push(this.invalid(node, comments, 'instruction'));
    }
  }

  /** BuildKit instructions.Parse: only ARGs may come before the first FROM. */
  private checkStage(ins: Instruction): void {
    if (ins.kind === 'FROM') this.seenFrom = true;
    else if (!this.seenFrom && ins.kind !== 'ARG') {
      this.error('E_NO_STAGE', 'no build stage in current context', ins.range);
    }
  }

  /** Read a heredoc body up to its terminator line (tabs stripped for `<<-` when comparing). */
  private heredocBody(name: string, chomp: boolean): { content: string; range: Range; terminated: boolean } {
    let content = '';
    let first: number | undefined;
    for (;;) {
      const line = this.nextLine();
      if (line === undefined) break;
      first ??= line.n;
      const candidate = chomp ? line.content.replace(/^\t+/, '') : line.content;
      if (candidate === name) {
        return { content, range: lineRange(first, line.n, line.content.length + 1), terminated: true };
      }
      content += this.lines.raw(line);
    }
    const last = this.lastLine?.n ?? 1;
    return { content, range: lineRange(first ?? last, last, (this.lastLine?.content.length ?? 0) + 1), terminated: false };
  }

  /** A node for a line the parser could not split: just its keyword. */
  private bareNode(ctx: { text: string; map: LineMap }): SyntaxNode {
    const start = skipGoSpace(ctx.text);
    let end = start;
    while (end < ctx.text.length && !isGoSpace(ctx.text.charCodeAt(end))) end++;
    return {
      keyword: { value: ctx.text.slice(start, end), range: ctx.map.range(start, end) },
      flags: [],
      args: [],
      json: false,
      heredocs: [],
      original: ctx.text,
      range: ctx.map.range(start, ctx.text.length),
    };
  }

  private invalid(node: SyntaxNode, comments: readonly string[], level: 'line' | 'instruction'): InvalidInstruction {
    return { ...node, comments, kind: 'INVALID', level };
  }

  /** Whole lines from `startLine` to the last line read so far. */
  private spanTo(startLine: number): Range {
    const last = this.lastLine;
    return lineRange(startLine, Math.max(startLine, last?.n ?? startLine), (last?.content.length ?? 0) + 1);
  }

  private error(code: ParseErrorCode, message: string, range: Range): void {
    this.errors.push(new ParseError(code, message, range, this.filename));
  }
}

/** BuildKit canContainHeredoc: RUN, COPY and ADD (also as an ONBUILD trigger), not in JSON form. */
function canContainHeredoc(node: SyntaxNode): boolean {
  const target = node.trigger ?? node; // only ONBUILD has a trigger
  const kind = instructionKind(target.keyword.value);
  return (kind === 'RUN' || kind === 'COPY' || kind === 'ADD') && !target.json;
}

function lineRange(startLine: number, endLine: number, endCol = 1, startCol = 1): Range {
  return { start: { line: startLine, col: startCol }, end: { line: endLine, col: endCol } };
}
