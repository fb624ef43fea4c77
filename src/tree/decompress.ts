/**
 * Decompression for the archives ADD extracts and for layers (SPEC.md section 4: gzip, bzip2, xz,
 * zstd, plain, recognised by content). gzip is Node's zlib; zstd and xz are pure JavaScript / WASM
 * decoders (fzstd, xz-decompress), so nothing native has to build; bzip2 goes through the system's
 * `bzip2 -dc` where there is one (it streams in bounded memory), else unbzip2-stream (pure
 * JavaScript, which decodes all it was given at once: only the budget below bounds it).
 *
 * Every output has a budget (UnpackLimits): at most `maxBytes`, and past 256 MiB at most 2000
 * times the compressed bytes read so far (gzip cannot pass 1032:1; a bomb passes that long before
 * it fills a disk). Over budget is E_BUILD_INPUT, and the decoder is stopped.
 */
import { spawn } from 'node:child_process';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { KeelError } from '../errors.js';
import { ZstdFrames } from './zstd-frames.js';

// the decoders load when an archive needs them: most builds use none, and a CLI start should not pay for them
const fzstd = (): typeof import('fzstd') => require('fzstd') as typeof import('fzstd');
// unbzip2-stream is one CommonJS function (the module itself, not a default export)
const unbzip2 = (): (typeof import('unbzip2-stream'))['default'] => require('unbzip2-stream') as (typeof import('unbzip2-stream'))['default'];
const xz = (): typeof import('xz-decompress') => require('xz-decompress') as typeof import('xz-decompress');

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

/** Input is given to fzstd this much at a time: one piece decodes to at most ~32 MiB (RLE blocks). */
const ZSTD_PIECE = 1024;

/**
 * zstd by fzstd, with the reader's pace: fzstd pushes everything a piece decodes to at once, so the
 * input is fed in small pieces and the next one only once the reader took the last one's output
 * (Readable.from of an async generator waits for reads); every frame's window checked first.
 */
function unzstd(input: Readable): Readable {
  async function* decode(): AsyncGenerator<Buffer> {
    const frames = new ZstdFrames();
    let out: Buffer[] = [];
    const decoder = new (fzstd().Decompress)((chunk) => out.push(Buffer.from(chunk)));
    for await (const chunk of input) {
      for (let i = 0; i < (chunk as Buffer).length; i += ZSTD_PIECE) {
        const piece = (chunk as Buffer).subarray(i, i + ZSTD_PIECE);
        frames.scan(piece);
        decoder.push(piece);
        const ready = out;
        out = [];
        yield* ready;
      }
    }
    decoder.push(new Uint8Array(0), true);
    yield* out;
  }
  return Readable.from(decode(), { objectMode: false });
}

export interface UnpackLimits {
  /** The most bytes one archive or layer may unpack to. */
  readonly maxBytes: number;
}

/** 64 GiB: more than any sane layer, less than a disk a bomb would fill. */
export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { maxBytes: 64 * 2 ** 30 };
const RATIO_AFTER = 256 * 2 ** 20;
const MAX_RATIO = 2000;
/**
 * How far the decoder may run ahead of the reader: zlib inflates on Node's thread pool, so while
 * the reader writes files the next bytes are inflated meanwhile (a 128 MB layer extracted to a
 * layer folder: 1.5 s with the default 16 KiB, see bench/RESULTS.md).
 */
const READ_AHEAD = 4 * 2 ** 20;

/** `source` decompressed, within `limits`; errors on either side reach the reader. */
export function decompress(source: Readable, compression: Compression, limits: UnpackLimits = DEFAULT_UNPACK_LIMITS): Readable {
  const read = { bytes: 0 };
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      read.bytes += chunk.length;
      done(null, chunk);
    },
  });
  pipeline(source, counted).catch((e: unknown) => counted.destroy(e as Error));
  const out = new PassThrough({ highWaterMark: READ_AHEAD });
  const budget = new Budget(limits, compression === 'none' ? undefined : read);
  const decoded = decoder(counted, compression);
  pipeline(decoded, budget, out).catch((e: unknown) => {
    out.destroy(e as Error);
    counted.destroy();
    source.destroy();
  });
  return out;
}

function decoder(input: Readable, compression: Compression): Readable {
  switch (compression) {
    case 'none':
      return input;
    case 'xz':
      return Readable.fromWeb(new (xz().XzReadableStream)(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>) as unknown as WebReadableStream<Uint8Array>);
    case 'bzip2':
      return bunzip2(input);
    case 'zstd':
      return unzstd(input);
    case 'gzip': {
      const out = new PassThrough();
      pipeline(input, createGunzip({ chunkSize: 256 * 1024 }), out).catch((e: unknown) => out.destroy(e as Error));
      return out;
    }
  }
}

/** bzip2 by the system's `bzip2 -dc` when it is installed, else by unbzip2-stream. */
function bunzip2(input: Readable): Readable {
  const out = new PassThrough();
  const child = spawn('bzip2', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.once('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') return out.destroy(e);
    // no bzip2 here: the JavaScript decoder (nothing of the input was read yet)
    pipeline(input, unbzip2()(), out).catch((err: unknown) => out.destroy(err as Error));
  });
  child.once('spawn', () => {
    pipeline(input, child.stdin).catch(() => child.kill());
    pipeline(child.stdout, out, { end: false }).then(
      () => child.once('close', (code) => (code === 0 ? out.end() : out.destroy(new Error(`bzip2: ${stderr.trim() || `exit code ${code}`}`)))),
      () => child.kill(),
    );
    out.once('close', () => child.kill()); // the reader stopped (a budget, an abort): the decoder stops too
  });
  return out;
}

/** Counts what a decoder gives, and stops it past the budget. */
class Budget extends Transform {
  private out = 0;
  constructor(private readonly limits: UnpackLimits, private readonly input: { bytes: number } | undefined) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.out += chunk.length;
    if (this.out > this.limits.maxBytes) return done(new KeelError('E_BUILD_INPUT', `the archive unpacks to more than ${this.limits.maxBytes} bytes (maxUnpackBytes)`));
    if (this.input !== undefined && this.out > RATIO_AFTER && this.out > MAX_RATIO * this.input.bytes) {
      return done(new KeelError('E_BUILD_INPUT', `the archive unpacks to over ${MAX_RATIO} times its size (${this.out} bytes from ${this.input.bytes}): a decompression bomb`));
    }
    done(null, chunk);
  }
}
