/**
 * A tar reader for layers and archives: ustar, GNU and PAX headers (POSIX.1-2001 `x` and `g`
 * records, GNU `L`/`K` long names), as Go's archive/tar reads them. Entries come one at a time
 * from an async iterator, each body a stream the caller reads or skips before asking for the next
 * (the iteration is the backpressure). PAX values are kept as bytes: an extended attribute is
 * binary (a `security.capability` value has bytes above 0x7f), which a reader decoding every record
 * as UTF-8 corrupts. A truncated archive, a bad checksum or a bad number is an error, never a hang.
 */
import { Readable } from 'node:stream';
import { KeelError } from '../errors.js';

/** At most this many PAX global records in one archive. */
const MAX_GLOBAL_RECORDS = 64;
const BLOCK = 512;

export type TarEntryType =
  | 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'contiguous-file' | 'unknown';

export interface TarHeader {
  readonly name: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: Date;
  readonly linkname: string | null;
  readonly devmajor: number;
  readonly devminor: number;
  /** The PAX records that apply to it (global ones included), values as text. */
  readonly pax: Readonly<Record<string, string>> | null;
  /** The same records' values as the bytes written. */
  readonly paxBytes: ReadonlyMap<string, Buffer>;
}

export interface TarEntry {
  readonly header: TarHeader;
  /** The entry's bytes as a stream (made when first asked for); read it (or not) before asking for the next entry. */
  readonly body: Readable;
  /** The entry's bytes at once, without a stream (for small entries); instead of `body`, not with it. */
  bytes(): Promise<Buffer>;
}

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file', '\0': 'file', '1': 'link', '2': 'symlink', '3': 'character-device', '4': 'block-device', '5': 'directory', '6': 'fifo', '7': 'contiguous-file',
};

const fail = (message: string): never => {
  throw new KeelError('E_BUILD_INPUT', `tar: ${message}`);
};

/** Exact reads from a stream of chunks. */
class Bytes {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private done = false;
  private readonly source: AsyncIterator<Buffer>;

  constructor(input: AsyncIterable<Buffer>) {
    this.source = input[Symbol.asyncIterator]();
  }

  /** Up to `n` bytes (fewer only at the end of the input). */
  async take(n: number): Promise<Buffer> {
    while (this.length < n && !this.done) {
      const next = await this.source.next();
      if (next.done === true) this.done = true;
      else {
        this.chunks.push(next.value);
        this.length += next.value.length;
      }
    }
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const out = all.subarray(0, Math.min(n, all.length));
    const rest = all.subarray(out.length);
    this.chunks.length = 0;
    if (rest.length > 0) this.chunks.push(rest);
    this.length = rest.length;
    return out;
  }

  async exactly(n: number, what: string): Promise<Buffer> {
    const b = await this.take(n);
    if (b.length < n) fail(`unexpected end of data in ${what}`);
    return b;
  }

  /** The next piece of at most `n` bytes (for streaming a body); empty only at the end of the input. */
  async piece(n: number): Promise<Buffer> {
    if (this.length === 0 && !this.done) {
      const next = await this.source.next();
      if (next.done === true) this.done = true;
      else {
        this.chunks.push(next.value);
        this.length += next.value.length;
      }
    }
    return this.take(Math.min(n, this.length));
  }

  /** Read the rest of the input, so that the stream feeding it ends. */
  async drain(): Promise<void> {
    this.chunks.length = 0;
    this.length = 0;
    while (!this.done) if ((await this.source.next()).done === true) this.done = true;
  }
}

/** A NUL-terminated field as text. */
function text(b: Buffer, at: number, len: number): string {
  const field = b.subarray(at, at + len);
  const end = field.indexOf(0);
  return (end < 0 ? field : field.subarray(0, end)).toString('utf8');
}

/** An octal field, or base-256 (GNU) when its first byte has the high bit set. */
function number(b: Buffer, at: number, len: number, what: string): number {
  const field = b.subarray(at, at + len);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] as number);
    if (!Number.isSafeInteger(n)) fail(`${what} is too large`);
    return n;
  }
  const digits = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) fail(`${what} is not a number (${JSON.stringify(digits)})`);
  return parseInt(digits, 8);
}

function checksumOk(b: Buffer): boolean {
  const want = number(b, 148, 8, 'the checksum');
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    unsigned += b[i] as number;
    signed += ((b[i] as number) << 24) >> 24;
  }
  return want === unsigned || want === signed;
}

/** PAX records (`<length> <key>=<value>\n`), values as bytes. */
function paxRecords(b: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let at = 0;
  while (at < b.length) {
    const space = b.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(b.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(len) || len <= space - at || at + len > b.length) fail('a PAX record has a bad length');
    const record = b.subarray(space + 1, at + len - 1); // without the closing newline
    const eq = record.indexOf(0x3d);
    if (eq < 0) fail('a PAX record has no =');
    out.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    at += len;
  }
  return out;
}

const EMPTY = Buffer.alloc(0);

/** The entries of a tar stream, in order. */
export async function* readTar(input: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const bytes = new Bytes(input);
  let chain: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  };
  let global = new Map<string, Buffer>();
  let local: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = await serially(() => bytes.take(BLOCK));
    if (block.length === 0) return; // the end of the input without the two zero blocks: as Go, an end
    if (block.length < BLOCK) fail('unexpected end of data in a header');
    if (block.every((x) => x === 0)) {
      await serially(() => bytes.drain()); // the end-of-archive blocks, and any padding after them
      return;
    }
    if (!checksumOk(block)) fail('a header has a bad checksum');
    const flag = String.fromCharCode(block[156] as number);
    const size = number(block, 124, 12, 'a size');
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > 1 << 20) fail('a PAX or long-name header is over 1 MiB');
      const body = (await serially(() => bytes.exactly(padded, 'a PAX or long-name header'))).subarray(0, size);
      if (flag === 'x') local = paxRecords(body);
      else if (flag === 'g') {
        global = new Map([...global, ...paxRecords(body)]);
        // every later entry carries the global records: a few are all real tars have (git archive
        // writes one), many would cost each of a million entries as much (issue 24)
        if (global.size > MAX_GLOBAL_RECORDS) fail(`PAX global headers hold over ${MAX_GLOBAL_RECORDS} records`);
      }
      else if (flag === 'L') longName = text(body, 0, body.length);
      else longLink = text(body, 0, body.length);
      continue;
    }
    const records = local === undefined ? global : new Map([...global, ...local]);
    local = undefined;
    const ustar = block.subarray(257, 263).toString('latin1') === 'ustar\0';
    const prefix = ustar ? text(block, 345, 155) : '';
    let name = longName ?? (prefix === '' ? text(block, 0, 100) : `${prefix}/${text(block, 0, 100)}`);
    let linkname: string | null = longLink ?? (block[157] === 0 ? null : text(block, 157, 100));
    longName = undefined;
    longLink = undefined;
    const pax: Record<string, string> = {};
    for (const [k, v] of records) pax[k] = v.toString('utf8');
    if (pax.path !== undefined) name = pax.path;
    if (pax.linkpath !== undefined) linkname = pax.linkpath;
    const paxNumber = (key: string, fallback: number): number => {
      if (pax[key] === undefined) return fallback;
      const n = Number(pax[key]);
      if (!Number.isFinite(n) || n < 0) fail(`PAX ${key} is not a number`);
      return n;
    };
    const bodySize = paxNumber('size', size);
    if (!Number.isSafeInteger(bodySize)) fail('a size is too large');
    const header: TarHeader = {
      name,
      type: TYPES[flag] ?? 'unknown',
      mode: number(block, 100, 8, 'a mode'),
      uid: paxNumber('uid', number(block, 108, 8, 'a uid')),
      gid: paxNumber('gid', number(block, 116, 8, 'a gid')),
      size: bodySize,
      mtime: new Date(Math.floor(paxNumber('mtime', number(block, 136, 12, 'a time'))) * 1000),
      linkname,
      devmajor: ustar || block.subarray(257, 263).toString('latin1') === 'ustar ' ? number(block, 329, 8, 'a device number') : 0,
      devminor: ustar || block.subarray(257, 263).toString('latin1') === 'ustar ' ? number(block, 337, 8, 'a device number') : 0,
      pax: records.size === 0 ? null : pax,
      paxBytes: records,
    };
    // the body streams from the input; whatever the caller leaves unread is skipped before the
    // next header. Every read of the input is one after another (a caller that resumed the body
    // and asked for the next entry at once must not interleave with the skipping)
    let left = bodySize;
    const nextPiece = (): Promise<Buffer> => serially(async () => {
      if (left === 0) return EMPTY;
      const piece = await bytes.piece(Math.min(left, 1 << 16));
      if (piece.length === 0) fail(`unexpected end of data in ${JSON.stringify(name)}`);
      left -= piece.length;
      return piece;
    });
    let stream: Readable | undefined;
    yield {
      header,
      get body(): Readable {
        stream ??= Readable.from((async function* () {
          for (let piece = await nextPiece(); piece.length > 0; piece = await nextPiece()) yield piece;
        })(), { objectMode: false });
        return stream;
      },
      async bytes(): Promise<Buffer> {
        const pieces: Buffer[] = [];
        for (let piece = await nextPiece(); piece.length > 0; piece = await nextPiece()) pieces.push(piece);
        return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
      },
    };
    stream?.destroy();
    while (left > 0) await nextPiece();
    await serially(() => bytes.exactly((BLOCK - (bodySize % BLOCK)) % BLOCK, 'padding'));
  }
}
