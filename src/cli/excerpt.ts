/**
 * The lines of a Dockerfile around an error, marked as BuildKit prints them (solver/errdefs
 * source.go): `FILE:LINE`, a rule, each line numbered with `>>>` on the error's lines, a rule. Two
 * lines either side of a one-line error, one either side of a longer one.
 */
import { printable } from './printable.js';

const RULE = '--------------------';

export function sourceExcerpt(text: string, filename: string, startLine: number, endLine: number): string | undefined {
  const lines = text.split('\n');
  if (startLine < 1 || startLine > lines.length) return undefined;
  const end = Math.min(Math.max(endLine, startLine), lines.length);
  const around = end === startLine ? 2 : 1;
  const first = Math.max(1, startLine - around);
  const last = Math.min(lines.length, end + around);
  const out = [`${printable(filename)}:${startLine}`, RULE];
  for (let i = first; i <= last; i++) {
    const mark = i >= startLine && i <= end ? '>>>' : '   ';
    out.push(` ${String(i).padStart(3)} | ${mark} ${printable(lines[i - 1] as string)}`);
  }
  out.push(RULE);
  return `${out.join('\n')}\n`;
}
