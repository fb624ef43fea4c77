import type { Pos, Range } from './ast.js';

/**
 * Maps offsets in a logical line (physical lines joined after continuations) back to source
 * positions. Each appended segment is a run of characters from one physical line.
 */
export class LineMap {
  private readonly starts: number[] = [];
  private readonly lines: number[] = [];
  private readonly cols: number[] = [];
  private length = 0;

  /** Append `len` characters that start at column `col` (1-based) of physical line `line`. */
  add(len: number, line: number, col: number): void {
    if (len === 0) return;
    this.starts.push(this.length);
    this.lines.push(line);
    this.cols.push(col);
    this.length += len;
  }

  /** A map for a line that is the single physical line `line` starting at column `col`. */
  static single(len: number, line: number, col: number): LineMap {
    const m = new LineMap();
    m.add(Math.max(len, 1), line, col);
    return m;
  }

  /** The position of the character at `offset`. */
  pos(offset: number): Pos {
    const n = this.starts.length;
    if (n === 0) return { line: 1, col: 1 };
    if (n === 1) return { line: this.lines[0] as number, col: (this.cols[0] as number) + offset };
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: this.lines[lo] as number, col: (this.cols[lo] as number) + offset - (this.starts[lo] as number) };
  }

  /** The range of characters [start, end): `end` is the position just after the last character. */
  range(start: number, end: number): Range {
    const s = this.pos(start);
    if (end <= start) return { start: s, end: s };
    const last = this.pos(end - 1);
    return { start: s, end: { line: last.line, col: last.col + 1 } };
  }
}
