/**
 * Where an output's bytes go: a file, written beside its name and renamed into place (a failed or
 * aborted write leaves an earlier file at that path intact), or a stream the caller owns (stdout
 * for `-o -`), written with backpressure and left open.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tempBeside } from '../image/index.js';

export type Destination = { readonly path: string } | { readonly stream: Writable };

/** Bytes written so far, told as they pass (for progress). */
export function counting(tell: ((bytes: number) => void) | undefined): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      tell?.(n);
      cb(null, chunk);
    },
    flush(cb) {
      tell?.(n);
      cb();
    },
  });
}

export async function writeBytes(bytes: Readable, to: Destination, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<void> {
  const opts = signal === undefined ? {} : { signal };
  if ('stream' in to) {
    await pipeline(bytes, counting(onBytes), to.stream, { ...opts, end: false });
    return;
  }
  const tmp = tempBeside(to.path);
  try {
    await pipeline(bytes, counting(onBytes), createWriteStream(tmp), opts);
    await rename(tmp, to.path);
  } finally {
    await rm(tmp, { force: true });
  }
}
