import type { Pos, Range } from './ast.js';

/**
 * Maps offsets in a logical line (physical lines joined after continuations) back to source
 * positions. Each appended segment is a run of characters from one physical line. Most logical
 * lines are one segment, kept in plain fields; arrays are made only for continued lines.
 */
export class LineMap {
  private firstLine = 1;
  private firstCol = 1;
  private segments = 0;
  /** Segments after the first: joined-line offset, line and column of each. */
  private more: { starts: number[]; lines: number[]; cols: number[] } | undefined;
  private length = 0;

  /** Append `len` characters that start at column `col` (1-based) of physical line `line`. */
  add(len: number, line: number, col: number): void {
    if (len === 0) return;
    if (this.segments === 0) {
      this.firstLine = line;
      this.firstCol = col;
    } else {
      this.more ??= { starts: [], lines: [], cols: [] };
      this.more.starts.push(this.length);
      this.more.lines.push(line);
      this.more.cols.push(col);
    }
    this.segments++;
    this.length += len;
  }

  /** The position of the character at `offset`. */
  pos(offset: number): Pos {
    const more = this.more;
    if (more === undefined || offset < (more.starts[0] as number)) {
      return { line: this.firstLine, col: this.firstCol + offset };
    }
    let lo = 0;
    let hi = more.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((more.starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: more.lines[lo] as number, col: (more.cols[lo] as number) + offset - (more.starts[lo] as number) };
  }

  /** The position just after the character at `end - 1` (exclusive end of a token). */
  endPos(end: number): Pos {
    const last = this.pos(end - 1);
    return { line: last.line, col: last.col + 1 };
  }

  /** The range of characters [start, end): `end` is the position just after the last character. */
  range(start: number, end: number): Range {
    const s = this.pos(start);
    return { start: s, end: end <= start ? s : this.endPos(end) };
  }
}
