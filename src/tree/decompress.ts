/**
 * Decompression for the archives ADD extracts (SPEC.md section 4: gzip, bzip2, xz, zstd, plain,
 * recognised by content). gzip is Node's zlib; bzip2, zstd and xz are pure JavaScript / WASM
 * decoders (unbzip2-stream, fzstd, xz-decompress), so nothing native has to build.
 */
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import unbzip2 from 'unbzip2-stream';
import { XzReadableStream } from 'xz-decompress';

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

/** fzstd's push-style decoder as a Transform. */
class Unzstd extends Transform {
  private readonly decoder = new ZstdDecompress((chunk) => {
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
    return Readable.fromWeb(new XzReadableStream(Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>) as unknown as WebReadableStream<Uint8Array>);
  }
  const transform = compression === 'gzip' ? createGunzip() : compression === 'bzip2' ? unbzip2() : new Unzstd();
  const out = new PassThrough();
  pipeline(source, transform, out).catch((e: unknown) => out.destroy(e as Error));
  return out;
}
