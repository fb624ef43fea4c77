/**
 * Content hashes of host files with a stat cache (SPEC.md section 6): a file whose size, mtime,
 * ctime, inode and mode are unchanged since it was last hashed is not read again, so an
 * unchanged large context costs one lstat per file. The table lives in `<cacheDir>/stat-cache.json`,
 * written atomically; a missing or corrupt table is an empty one.
 */
import { randomBytes, createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** What identifies a version of a file without reading it. */
export type StatFingerprint = string;

interface Entry {
  readonly fp: StatFingerprint;
  readonly sha256: string;
}

const VERSION = 1;

export class FileHasher {
  private table = new Map<string, Entry>();
  private dirty = false;
  /** The table's first read, shared by every caller (concurrent hash() calls must all wait for it). */
  private loading: Promise<void> | undefined;
  private readonly file: string;
  /** Reads under way, so that at most `jobs` files are read at once. */
  private active = 0;
  private readonly queue: Array<() => void> = [];
  /** Files read whole and synchronously so far (hashFile yields to the event loop every so often). */
  private readonly reads = { n: 0 };

  constructor(cacheDir: string, private readonly jobs = 16) {
    this.file = join(cacheDir, 'stat-cache.json');
  }

  private load(): Promise<void> {
    this.loading ??= this.readTable();
    return this.loading;
  }

  private async readTable(): Promise<void> {
    try {
      const data = JSON.parse(await readFile(this.file, 'utf8')) as { version?: number; entries?: Record<string, Entry> };
      if (data.version === VERSION && data.entries !== undefined) this.table = new Map(Object.entries(data.entries));
    } catch {
      // no table yet, or an unreadable one: start afresh (it is only a cache)
    }
  }

  /**
   * The sha256 (hex) of the file at `path`, whose current fingerprint is `fp`. `remember: false`
   * for a file that will not be asked about again (a RUN's output in scratch space): the table
   * would only grow with it.
   */
  async hash(path: string, fp: StatFingerprint, remember = true): Promise<string> {
    if (!remember) return this.limited(() => hashFile(path, this.reads));
    await this.load();
    const known = this.table.get(path);
    if (known !== undefined && known.fp === fp) return known.sha256;
    const sha256 = await this.limited(() => hashFile(path, this.reads));
    this.table.set(path, { fp, sha256 });
    this.dirty = true;
    return sha256;
  }

  /** Write the table back (after a build), atomically. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, JSON.stringify({ version: VERSION, entries: Object.fromEntries(this.table) }));
      await rename(tmp, this.file);
      this.dirty = false;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.jobs) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

/** Files up to this size are read whole with one synchronous call; larger ones are streamed. */
const SMALL = 1 << 20;
/** Synchronous reads between two yields to the event loop. */
const SYNC_BATCH = 64;

/** `reads`: the caller's count of synchronous reads, to yield every SYNC_BATCH of them. */
async function hashFile(path: string, reads: { n: number }): Promise<string> {
  const h = createHash('sha256');
  // A small file read whole and at once costs ~10 µs from the page cache, where the async
  // open/fstat/read/close round trips through the thread pool cost ten times that. Yield
  // every SYNC_BATCH reads so that a program embedding keel stays responsive.
  if (++reads.n % SYNC_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  const size = statSync(path).size;
  if (size <= SMALL) return h.update(readFileSync(path)).digest('hex');
  await pipeline(createReadStream(path), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) h.update(chunk);
    yield* [];
  });
  return h.digest('hex');
}
