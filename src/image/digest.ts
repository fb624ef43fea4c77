/** Content digests: `sha256:<64 hex>`, branded so that a plain string is not taken for one. */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { KeelError } from '../errors.js';

export type Digest = string & { readonly __brand: 'Digest' };

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: string): s is Digest {
  return DIGEST.test(s);
}

export function toDigest(s: string): Digest {
  if (!isDigest(s)) throw new KeelError('E_DIGEST', `not a sha256 digest: ${JSON.stringify(s)}`);
  return s;
}

/** The 64 hex characters of a digest. */
export const hexOf = (d: Digest): string => d.slice('sha256:'.length);

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/** A pass-through stream that hashes and counts what flows through it. */
export class HashCounter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private result: Digest | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.result = `sha256:${this.hash.digest('hex')}` as Digest;
    done();
  }

  /** The digest, once the stream has ended. */
  digest(): Digest {
    if (this.result === undefined) throw new KeelError('E_INTERNAL', 'digest read before the stream ended');
    return this.result;
  }

  get size(): number {
    return this.bytes;
  }
}
