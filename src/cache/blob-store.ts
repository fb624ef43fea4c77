/**
 * The content-addressed blob store: `<root>/blobs/sha256/<hex>`. Blobs are written to a temp file
 * in the same folder, fsynced, checked against the expected digest, then renamed into place, so a
 * reader never sees a blob under its final name that does not match it (SPEC.md section 6),
 * whatever other processes sharing the folder do and however a build is killed.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KeelError } from '../errors.js';
import { processAlive } from '../process-alive.js';
import { HashCounter, hexOf, type BlobInfo, type ContentStore, type Digest } from '../image/index.js';

export class BlobStore implements ContentStore {
  private readonly dir: string;
  /**
   * Blobs this build can fetch when it reads them (an imported cache's layers: cacheFrom), with
   * their sizes; each fetched at most once, into the store, verified against its digest.
   */
  private readonly remote = new Map<Digest, { readonly size: number; readonly fetch: () => Promise<void>; fetched?: Promise<void> }>();

  /**
   * `pid`: this process's id, written in the download locks it takes, so that a lock whose process
   * is gone can be taken over (without it, such a lock is waited for).
   */
  constructor(readonly root: string, private readonly pid?: number) {
    this.dir = join(root, 'blobs', 'sha256');
  }

  path(digest: Digest): string {
    return join(this.dir, hexOf(digest));
  }

  async stat(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** A blob that can be fetched on its first read, by `fetch` (which stores it here). */
  addRemote(digest: Digest, size: number, fetch: () => Promise<void>): void {
    if (!this.remote.has(digest)) this.remote.set(digest, { size, fetch });
  }

  /** The size of a blob stored, or that can be fetched when read. */
  async available(digest: Digest): Promise<number | undefined> {
    return (await this.stat(digest)) ?? this.remote.get(digest)?.size;
  }

  /** A blob that may only be fetchable, stored here now (for readers of the file itself). */
  async ensure(digest: Digest): Promise<void> {
    if ((await this.stat(digest)) !== undefined) return;
    const far = this.remote.get(digest);
    if (far === undefined) return;
    far.fetched ??= far.fetch();
    far.fetched.catch(() => {
      far.fetched = undefined; // a failed fetch may be tried again
    });
    await far.fetched;
  }

  /**
   * Fetch the blobs of `digests` that are only fetchable, `jobs` at a time, in the background (each
   * read waits for its own): a stack of an imported cache's layers downloads at once, not one by
   * one as each is read. A failure is the read's to report.
   */
  prefetch(digests: readonly Digest[], jobs = 4): void {
    const queue = digests.filter((d) => this.remote.has(d));
    const worker = async (): Promise<void> => {
      for (let d = queue.shift(); d !== undefined; d = queue.shift()) await this.ensure(d).catch(() => undefined);
    };
    for (let i = 0; i < Math.min(jobs, queue.length); i++) void worker();
  }

  async open(digest: Digest): Promise<Readable> {
    await this.ensure(digest);
    const size = await this.stat(digest);
    if (size === undefined) throw new KeelError('E_BLOB_NOT_FOUND', `blob ${digest} is not in the store at ${this.root}`);
    return createReadStream(this.path(digest));
  }

  /**
   * Where a download of `digest` keeps its bytes until it is complete (never a final name): a
   * broken download leaves them here, and the next attempt resumes from their length.
   */
  partialPath(digest: Digest): string {
    return join(this.root, 'ingest', `${hexOf(digest)}.partial`);
  }

  /**
   * One writer per digest for downloads (`ingest/<hex>.lock`, holding the writer's pid): builds that
   * share a cache folder and pull the same base at once take turns, and the ones after the first
   * find the blob stored. A lock whose process is gone (killed) is taken over.
   */
  async lockIngest(digest: Digest, signal?: AbortSignal): Promise<() => Promise<void>> {
    const lock = join(this.root, 'ingest', `${hexOf(digest)}.lock`);
    await mkdir(dirname(lock), { recursive: true });
    for (;;) {
      signal?.throwIfAborted();
      const mine = `${this.pid ?? 0} ${randomBytes(6).toString('hex')}`;
      try {
        await writeFile(lock, mine, { flag: 'wx' });
        return async () => {
          // only our own lock is removed (a stale-lock takeover may have replaced it)
          if ((await readFile(lock, 'utf8').catch(() => '')) === mine) await rm(lock, { force: true });
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).split(' ')[0]);
      if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) {
        await rm(lock, { force: true }); // its writer was killed: the partial file is resumed by whoever takes the lock
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Move a complete download into the store: its bytes are hashed and must be `expected`; on a
   * mismatch the file is removed and nothing is stored.
   */
  async adopt(path: string, expected: Digest, written?: Digest): Promise<BlobInfo> {
    let digest: Digest;
    let size: number;
    if (written === undefined) {
      const hash = new HashCounter();
      await pipeline(createReadStream(path), hash, async function* (source: AsyncIterable<Buffer>) {
        for await (const _ of source) yield* [];
      });
      digest = hash.digest();
      size = hash.size;
    } else {
      digest = written;
      size = (await stat(path)).size;
    }
    if (digest !== expected) {
      await rm(path, { force: true });
      throw new KeelError('E_DIGEST_MISMATCH', `blob should be ${expected} but its content is ${digest}`);
    }
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await mkdir(this.dir, { recursive: true });
    await rename(path, this.path(digest));
    await syncDir(this.dir);
    return { digest, size };
  }

  async put(source: Readable | AsyncIterable<Uint8Array>, expected?: Digest, signal?: AbortSignal): Promise<BlobInfo> {
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.ingest-${randomBytes(8).toString('hex')}`);
    const hash = new HashCounter();
    try {
      const out = createWriteStream(tmp, { flags: 'wx' });
      await pipeline(source, hash, out, signal === undefined ? {} : { signal });
      const digest = hash.digest();
      if (expected !== undefined && digest !== expected) {
        throw new KeelError('E_DIGEST_MISMATCH', `blob should be ${expected} but its content is ${digest}`);
      }
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path(digest)); // same name means same bytes, so replacing is harmless
      await syncDir(this.dir);
      return { digest, size: hash.size };
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

