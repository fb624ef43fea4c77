/**
 * A build context given as a stream, as `docker build -` reads stdin: a tar of the context (plain,
 * gzip, bzip2, xz or zstd), unpacked into a scratch folder with the same rules as every layer
 * (tree/entries.ts: no path out of the folder, no link through one); or, when the bytes are not an
 * archive, a Dockerfile's text with an empty context (moby's builder/remotecontext detect.go).
 */
import { mkdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { KeelError } from '../errors.js';
import { extractLayerDir } from '../snapshot/index.js';
import { decompress, sniffArchive, type UnpackLimits } from '../tree/index.js';

/** Bytes enough to tell a tar (its `ustar` magic at 257) or a compressed stream from text. */
const HEAD = 512;

/** A Dockerfile on stdin larger than this is not one. */
const MAX_DOCKERFILE = 16 * 1024 * 1024;

/** The first HEAD bytes of `input` (fewer at its end), and a stream of all of it again. */
async function peek(input: Readable): Promise<{ head: Buffer; all: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const seen: Buffer[] = [];
  let size = 0;
  let done = false;
  while (size < HEAD) {
    const r = await it.next();
    if (r.done === true) {
      done = true;
      break;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as string);
    seen.push(chunk);
    size += chunk.length;
  }
  async function* again(): AsyncGenerator<Buffer> {
    yield* seen;
    if (done) return;
    for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value;
  }
  return { head: Buffer.concat(seen), all: Readable.from(again(), { objectMode: false }) };
}

/** What the stream held: the context unpacked into `dir`, or a Dockerfile's text (and `dir` left empty). */
export async function unpackContextStream(input: Readable, dir: string, limits: UnpackLimits, signal?: AbortSignal): Promise<{ dockerfileText?: string }> {
  await mkdir(dir, { recursive: true });
  const { head, all } = await peek(input);
  const kind = sniffArchive(head);
  if (kind === undefined) {
    let text = '';
    for await (const chunk of all) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length > MAX_DOCKERFILE) throw new KeelError('E_BUILD_INPUT', 'the context stream is neither an archive (tar, gzip, bzip2, xz, zstd) nor a Dockerfile');
    }
    return { dockerfileText: text };
  }
  await extractLayerDir(decompress(all, kind, limits), dir, signal === undefined ? {} : { signal }).catch((e: unknown) => {
    throw new KeelError('E_BUILD_INPUT', `the context archive cannot be unpacked: ${(e as Error).message}`, { cause: e });
  });
  return {};
}
