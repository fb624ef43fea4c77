/**
 * zstd layer compression (SPEC.md section 5: opt-in with `compression: 'zstd'`). Node 20 has no
 * zstd encoder, so this uses a WASM build of libzstd (@bokuweb/zstd-wasm). Like the gzip path,
 * the input is cut at fixed 1 MiB boundaries and each piece is its own frame: zstd readers take
 * concatenated frames, and fixed boundaries make the output a function of the input alone.
 * (docker loads zstd layers from Engine 23 on; 20.10 does not.)
 */
import { Transform, type TransformCallback } from 'node:stream';

type ZstdWasm = typeof import('@bokuweb/zstd-wasm');
/** The WASM encoder, loaded by the first zstd layer (a CLI start without one does not pay for it). */
let wasm: ZstdWasm | undefined;
const zstd = (): ZstdWasm => (wasm ??= require('@bokuweb/zstd-wasm') as ZstdWasm);

const CHUNK = 1 << 20;
const DEFAULT_LEVEL = 3; // zstd's default
let ready: Promise<void> | undefined;

export class ZstdFrames extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private wrote = false;

  /** `level`: zstd's 1-22. */
  constructor(private readonly level: number = DEFAULT_LEVEL) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    (ready ??= zstd().init()).then(() => {
      while (this.pendingBytes >= CHUNK) {
        const all = Buffer.concat(this.pending);
        this.frame(all.subarray(0, CHUNK));
        const rest = all.subarray(CHUNK);
        this.pending = rest.length > 0 ? [rest] : [];
        this.pendingBytes = rest.length;
      }
      done();
    }, done);
  }

  override _flush(done: TransformCallback): void {
    (ready ??= zstd().init()).then(() => {
      if (this.pendingBytes > 0 || !this.wrote) this.frame(Buffer.concat(this.pending));
      done();
    }, done);
  }

  private frame(piece: Buffer): void {
    this.wrote = true;
    this.push(Buffer.from(zstd().compress(piece, this.level)));
  }
}
