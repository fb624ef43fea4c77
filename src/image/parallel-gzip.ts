/**
 * gzip in parallel chunks (SPEC.md section 5): the input is cut at fixed 1 MiB boundaries, each
 * piece is compressed as its own gzip member on libuv's thread pool (several at once, so every
 * core works), and the members are written in order. Concatenated members are one valid gzip
 * stream (RFC 1952; Go's and Node's readers take them), and fixed boundaries make the output a
 * function of the input alone. Each member's OS byte is 255, as Go writes it, on every platform.
 *
 * zlib spends as long on incompressible data (already-compressed files, random bytes) as on text
 * and gains nothing, so a piece whose 64 KiB sample does not shrink by 3% is stored (level 0):
 * the same bytes in, the same choice out, and far less time for binaries.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { deflateRaw, gzip } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);
const deflateRawAsync = promisify(deflateRaw);
export const GZIP_CHUNK = 1 << 20;
const SAMPLE = 64 << 10;

/** The level for a piece: `level`, or 0 when a sample of it does not compress. */
async function levelFor(piece: Buffer, level: number): Promise<number> {
  if (level === 0 || piece.length < SAMPLE) return level;
  const sample = piece.subarray(0, SAMPLE);
  const packed = await deflateRawAsync(sample, { level: 1 });
  return packed.length > sample.length * 0.97 ? 0 : level;
}

export class ParallelGzip extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inFlight: Array<Promise<Buffer>> = [];

  constructor(
    private readonly level: number,
    private readonly jobs = 4,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.drainFull().then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    const finish = async (): Promise<void> => {
      await this.drainFull();
      if (this.pendingBytes > 0 || this.inFlight.length === 0 && !this.started) this.start(Buffer.concat(this.pending));
      this.pending = [];
      this.pendingBytes = 0;
      while (this.inFlight.length > 0) this.push(await (this.inFlight.shift() as Promise<Buffer>));
    };
    finish().then(() => done(), done);
  }

  private started = false;

  private start(piece: Buffer): void {
    this.started = true;
    this.inFlight.push(
      levelFor(piece, this.level)
        .then((level) => gzipAsync(piece, { level }))
        .then((member) => {
          member[9] = 0xff;
          return member;
        }),
    );
  }

  /** Start a member for every full chunk; wait for the oldest when too many are running. */
  private async drainFull(): Promise<void> {
    while (this.pendingBytes >= GZIP_CHUNK) {
      const all = Buffer.concat(this.pending);
      this.start(all.subarray(0, GZIP_CHUNK));
      const rest = all.subarray(GZIP_CHUNK);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      while (this.inFlight.length >= this.jobs) this.push(await (this.inFlight.shift() as Promise<Buffer>));
    }
  }
}
