/**
 * The frame headers of a zstd stream, read as its bytes pass (RFC 8878 section 3.1), so that a
 * frame asking for a window over the cap is refused before the decoder allocates it: fzstd
 * allocates the window a frame header names (up to ~2 GiB from 18 bytes of input). The cap is
 * zstd's own decoder default (ZSTD_WINDOWLOG_LIMIT_DEFAULT 27: 128 MiB; `zstd -d` refuses more
 * without --long), so every frame zstd's CLI decodes by default decodes here.
 */
import { KeelError } from '../errors.js';

export const MAX_ZSTD_WINDOW = 128 * 2 ** 20;

const ZSTD_MAGIC = 0xfd2fb528;

type State =
  | { readonly at: 'magic'; readonly got: Buffer }
  | { readonly at: 'header'; readonly need: number; readonly got: Buffer }
  | { readonly at: 'block'; readonly got: Buffer; readonly checksum: boolean }
  | { readonly at: 'skip'; left: number; readonly then: 'block' | 'magic'; readonly checksum: boolean };

const fail = (why: string): never => {
  throw new KeelError('E_BUILD_INPUT', `a zstd stream ${why}`);
};

/** Follows the frames of one zstd stream; `scan()` each chunk in order, before the decoder sees it. */
export class ZstdFrames {
  private state: State = { at: 'magic', got: Buffer.alloc(0) };

  scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      const s = this.state;
      if (s.at === 'skip') {
        const n = Math.min(s.left, chunk.length - i);
        s.left -= n;
        i += n;
        if (s.left === 0) this.state = s.then === 'block' ? { at: 'block', got: Buffer.alloc(0), checksum: s.checksum } : { at: 'magic', got: Buffer.alloc(0) };
        continue;
      }
      // gather the bytes this state needs
      const need = s.at === 'magic' ? (s.got.length < 4 ? 4 : 8) : s.at === 'header' ? s.need : 3;
      const take = Math.min(need - s.got.length, chunk.length - i);
      const got = Buffer.concat([s.got, chunk.subarray(i, i + take)]);
      i += take;
      if (got.length < need) {
        this.state = { ...s, got } as State;
        continue;
      }
      this.step(s, got);
    }
  }

  private step(s: Exclude<State, { at: 'skip' }>, got: Buffer): void {
    if (s.at === 'block') {
      this.blockHeader(got, s.checksum);
      return;
    }
    if (s.at === 'magic') {
      const magic = got.readUInt32LE(0);
      if (magic === ZSTD_MAGIC) {
        if (got.length < 5) {
          this.state = { at: 'header', need: 5, got };
          return;
        }
      } else if ((magic & 0xfffffff0) === 0x184d2a50) {
        // a skippable frame: its size, then that many bytes
        if (got.length < 8) {
          this.state = { at: 'magic', got };
          return;
        }
        this.state = { at: 'skip', left: got.readUInt32LE(4), then: 'magic', checksum: false };
        return;
      } else {
        fail('has bytes that are not a frame');
      }
    }
    // the frame header: magic, descriptor, [window descriptor], [dictionary id], [content size]
    const fhd = got[4] as number;
    const single = (fhd & 0x20) !== 0;
    const dictBytes = [0, 1, 2, 4][fhd & 3] as number;
    const fcsFlag = fhd >> 6;
    const fcsBytes = fcsFlag === 0 ? (single ? 1 : 0) : ([0, 2, 4, 8][fcsFlag] as number);
    const headerBytes = 5 + (single ? 0 : 1) + dictBytes + fcsBytes;
    if (got.length < headerBytes) {
      this.state = { at: 'header', need: headerBytes, got };
      return;
    }
    let window: number;
    if (single) {
      const at = 5 + dictBytes;
      window = fcsBytes === 1 ? (got[at] as number) : fcsBytes === 2 ? got.readUInt16LE(at) + 256 : fcsBytes === 4 ? got.readUInt32LE(at) : Number(got.readBigUInt64LE(at));
    } else {
      const wd = got[5] as number;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    if (window > MAX_ZSTD_WINDOW) fail(`frame asks for a ${Math.ceil(window / 2 ** 20)} MiB window, over the ${MAX_ZSTD_WINDOW / 2 ** 20} MiB zstd decodes without --long`);
    this.state = { at: 'block', got: Buffer.alloc(0), checksum: (fhd & 4) !== 0 };
  }

  /** A block header read: skip its content; after the last block, the checksum, then the next frame. */
  private blockHeader(got: Buffer, checksum: boolean): void {
    const h = (got[0] as number) | ((got[1] as number) << 8) | ((got[2] as number) << 16);
    const last = (h & 1) === 1;
    const type = (h >> 1) & 3;
    if (type === 3) fail('has a reserved block type');
    const size = type === 1 ? 1 : h >>> 3;
    const after = last ? (checksum ? 4 : 0) : -1;
    if (after === -1) this.state = size === 0 ? { at: 'block', got: Buffer.alloc(0), checksum } : { at: 'skip', left: size, then: 'block', checksum };
    else this.state = { at: 'skip', left: size + after, then: 'magic', checksum: false };
    if (this.state.at === 'skip' && this.state.left === 0) this.state = { at: 'magic', got: Buffer.alloc(0) };
  }
}
