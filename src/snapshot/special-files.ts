/**
 * What Node cannot make on its own: device files, fifos and whiteouts (mknod, mkfifo) and extended
 * attributes (setfattr, from Debian's attr package). Each call runs one shell or one setfattr for
 * a whole batch: a spawn from a large Node process costs milliseconds.
 */
import { command } from '../runtime/index.js';

/** A device, a fifo or an overlayfs whiteout (a 0/0 character device) to make. */
export type Special = readonly [path: string, kind: 'c' | 'b' | 'p', major: number, minor: number];

/** Device files, fifos and whiteouts: Node has no mknod, so one shell runs them all. */
export async function makeSpecials(specials: readonly Special[]): Promise<void> {
  if (specials.length === 0) return;
  const args = specials.flatMap(([path, kind, major, minor]) => (kind === 'p' ? [path, 'p', '-', '-'] : [path, kind, String(major), String(minor)]));
  await command('sh', ['-c', 'while [ $# -gt 0 ]; do if [ "$2" = p ]; then mkfifo "$1"; else mknod "$1" "$2" "$3" "$4"; fi || exit 1; shift 4; done', 'sh', ...args]);
}

/** Extended attributes, set by setfattr (Debian's attr package): Node has no xattr calls. */
export async function setXattrs(attrs: ReadonlyArray<readonly [string, string, Buffer]>): Promise<void> {
  if (attrs.length === 0) return;
  const script = attrs.map(([path, name, value]) => `# file: ${escapePath(path)}\n${name}=0s${value.toString('base64')}\n`).join('\n');
  await command('setfattr', ['-h', '--restore=-'], { input: Buffer.from(script, 'latin1') });
}

/** setfattr's escaping of a path in a --restore dump (as latin1 bytes): backslash and control bytes as octal. */
const escapePath = (path: string): string =>
  [...Buffer.from(path)].map((b) => (b < 0x20 || b === 0x5c || b === 0x7f ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b))).join('');
