/**
 * Text from a Dockerfile, a command's output or an error, made safe to print on a terminal: control
 * characters (C0 but tab, DEL, and C1) become visible escapes (`\x1b`, `\u009b`), so that a LABEL
 * or a RUN's output cannot retitle, clear or move the user's terminal. keel's own control
 * sequences (the live view's cursor moves) are written around escaped text, never through it.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

export function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff && code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
