/**
 * Decompression for the archives ADD extracts (SPEC.md section 4: gzip, bzip2, xz, zstd, plain,
 * recognised by content). gzip is Node's zlib; bzip2, zstd and xz are pure JavaScript / WASM
 * decoders (unbzip2-stream, fzstd, xz-decompress), so nothing native has to build.
 */
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';

// the decoders load when an archive needs them: most builds use none, and a CLI start should not pay for them
const fzstd = (): typeof import('fzstd') => require('fzstd') as typeof import('fzstd');
// unbzip2-stream is one CommonJS function (the module itself, not a default export)
const unbzip2 = (): (typeof import('unbzip2-stream'))['default'] => require('unbzip2-stream') as (typeof import('unbzip2-stream'))['default'];
const xz = (): typeof import('xz-decompress') => require('xz-decompress') as typeof import('xz-decompress');

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

/** fzstd's push-style decoder as a Transform. */
class Unzstd extends Transform {
  private readonly decoder = new (fzstd().Decompress)((chunk) => {
    this.push(Buffer.from(chunk));
  });
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.decoder.push(chunk);
      done();
    } catch (e) {
      done(e as Error);
    }
  }
  override _flush(done: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
      done();
    } catch (e) {
      done(e as Error);
    }
  }
}

/** `source` decompressed; errors on either side reach the reader. */
export function decompress(source: Readable, compression: Compression): Readable {
  if (compression === 'none') return source;
  if (compression === 'xz') {
    return Readable.fromWeb(new (xz().XzReadableStream)(Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>) as unknown as WebReadableStream<Uint8Array>);
  }
  const transform = compression === 'gzip' ? createGunzip() : compression === 'bzip2' ? unbzip2()() : new Unzstd();
  const out = new PassThrough();
  pipeline(source, transform, out).catch((e: unknown) => out.destroy(e as Error));
  return out;
}
