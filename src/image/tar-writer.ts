/**
 * A lean ustar/PAX writer for layer tars. tar-stream's pack costs ~50 us an entry (a stream
 * object per entry); a RUN that writes thousands of small files made that the largest part of its
 * layer time. This writes the same bytes as tar-stream 3 does for the headers keel uses (its
 * layout was the format before: layer digests do not change), with two corrections where
 * tar-stream loses information: a mode of 0 stays 0 (tar-stream writes 0644/0755 instead), ids
 * too large for the 6-digit field also go into the PAX record (tar-stream writes 777777), and
 * mtimes from 2038 on are written as they are (tar-stream's 32-bit arithmetic wraps them).
 *
 * The layout (POSIX.1-2001 ustar): name 0-99, mode 100, uid 108, gid 116 (6 octal digits and a
 * space), size 124 and mtime 136 (11 digits and a space; sizes of 8 GiB and more in base-256),
 * checksum 148 (6 digits and a space), typeflag 156, linkname 157, "ustar\0" "00" at 257,
 * devmajor 329 and devminor 337 (6 digits and a space), prefix 345-499. A name that does not fit
 * (or is not ASCII), or a link target over 100 bytes, goes into a PAX `x` record before the entry.
 */

export type TarType = 'file' | 'link' | 'symlink' | 'directory' | 'char' | 'block' | 'fifo';

export interface TarHeader {
  /** The name as written (a directory's ends in `/`). */
  readonly name: string;
  readonly type: TarType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly linkname?: string;
  /** For a device: its numbers. */
  readonly devmajor?: number;
  readonly devminor?: number;
  /** Extended attributes (values in base64), written as PAX `SCHILY.xattr.` records, sorted by name. */
  readonly xattrs?: Readonly<Record<string, string>>;
}

const TYPEFLAG: Readonly<Record<TarType | 'pax', number>> = { file: 0x30, link: 0x31, symlink: 0x32, char: 0x33, block: 0x34, directory: 0x35, fifo: 0x36, pax: 0x78 };
const BLOCK = 512;
const MAX_ID = 0o777777;
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** The zero bytes that pad a body of `size` bytes to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? ZERO_BLOCK.subarray(0, 0) : ZERO_BLOCK.subarray(0, BLOCK - rest);
}

/** The header blocks of one entry: one, or three when it needs a PAX record. */
export function encodeHeader(h: TarHeader): Buffer[] {
  const split = splitName(h.name);
  const link = h.linkname === undefined || h.linkname === '' ? undefined : h.linkname;
  const bigIds = h.uid > MAX_ID || h.gid > MAX_ID;
  const xattrs = Object.keys(h.xattrs ?? {}).sort();
  if (split !== undefined && (link === undefined || Buffer.byteLength(link) <= 100) && !bigIds && xattrs.length === 0) return [block(h, split.name, split.prefix, link)];
  // as tar-stream lays a PAX entry out: the record names path (and linkpath), and both ustar
  // headers say `PaxHeader` where the name and the link target would be
  const records =
    paxRecord('path', h.name) +
    (link === undefined ? '' : paxRecord('linkpath', link)) +
    (h.uid > MAX_ID ? paxRecord('uid', String(h.uid)) : '') +
    (h.gid > MAX_ID ? paxRecord('gid', String(h.gid)) : '');
  const body = Buffer.concat([
    Buffer.from(records, 'utf8'),
    ...xattrs.map((name) => paxRecordBytes(`SCHILY.xattr.${name}`, Buffer.from((h.xattrs ?? {})[name] as string, 'base64'))),
  ]);
  const placeholder = link === undefined ? undefined : 'PaxHeader';
  return [
    block({ ...h, type: 'file', size: body.length }, 'PaxHeader', '', placeholder, TYPEFLAG.pax),
    Buffer.concat([body, padding(body.length)]),
    block(h, 'PaxHeader', '', placeholder),
  ];
}

const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);

/** ustar's name and prefix fields for `name`, or undefined when it needs PAX. */
function splitName(name: string): { name: string; prefix: string } | undefined {
  if (!isAscii(name)) return undefined;
  let rest = name;
  let prefix = '';
  while (rest.length > 100) {
    const slash = rest.indexOf('/');
    if (slash < 0) return undefined;
    prefix = prefix === '' ? rest.slice(0, slash) : `${prefix}/${rest.slice(0, slash)}`;
    rest = rest.slice(slash + 1);
  }
  return prefix.length > 155 ? undefined : { name: rest, prefix };
}

/** A PAX record: "<length> <key>=<value>\n", the length counting itself. */
function paxRecord(key: string, value: string): string {
  const text = ` ${key}=${value}\n`;
  const len = Buffer.byteLength(text);
  let digits = String(len).length;
  if (len + digits >= 10 ** digits) digits++;
  return `${len + digits}${text}`;
}

/** A PAX record whose value is bytes (an extended attribute's value need not be text). */
function paxRecordBytes(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let digits = String(rest.length).length;
  if (rest.length + digits >= 10 ** digits) digits++;
  return Buffer.concat([Buffer.from(String(rest.length + digits)), rest]);
}

function block(h: TarHeader, name: string, prefix: string, linkname: string | undefined, typeflag = TYPEFLAG[h.type]): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'latin1');
  octal(b, 100, h.mode & 0o7777, 6);
  octal(b, 108, Math.min(h.uid, MAX_ID), 6);
  octal(b, 116, Math.min(h.gid, MAX_ID), 6);
  const size = h.type === 'file' ? h.size : 0;
  if (size.toString(8).length > 11) {
    b[124] = 0x80; // base-256
    let n = size;
    for (let i = 11; i > 0; i--) {
      b[124 + i] = n % 256;
      n = Math.floor(n / 256);
    }
  } else octal(b, 124, size, 11);
  octal(b, 136, Math.max(0, Math.floor(h.mtime)), 11);
  b[156] = typeflag;
  if (linkname !== undefined) b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\x0000', 257, 8, 'latin1');
  octal(b, 329, h.devmajor ?? 0, 6);
  octal(b, 337, h.devminor ?? 0, 6);
  if (prefix !== '') b.write(prefix, 345, 155, 'latin1');
  let sum = 8 * 0x20; // the checksum field counts as spaces
  for (let i = 0; i < 148; i++) sum += b[i] as number;
  for (let i = 156; i < BLOCK; i++) sum += b[i] as number;
  octal(b, 148, sum, 6);
  return b;
}

/** `digits` octal digits (zero-padded; all 7s when too large) and a space. */
function octal(b: Buffer, at: number, value: number, digits: number): void {
  const text = value.toString(8);
  b.write(`${text.length > digits ? '7'.repeat(digits) : text.padStart(digits, '0')} `, at, digits + 1, 'latin1');
}
