/**
 * Content roles, as containerd splits its store (core/content/content.go): a function takes the
 * narrowest role it needs, never a whole store. The blob store in cache/ implements all three; a
 * registry client or an output needs only these shapes, so image/ and registry/ never depend on
 * cache/.
 */
import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
}

/** Reading blobs. */
export interface BlobReader {
  /** The size of a stored blob, or undefined when it is not stored. */
  stat(digest: Digest): Promise<number | undefined>;
  /** A fresh stream of the blob's bytes; E_BLOB_NOT_FOUND when it is not stored. */
  open(digest: Digest): Promise<Readable>;
  /** Where the blob lies on disk, for a store that keeps blobs as files (hard links instead of copies). */
  path?(digest: Digest): string;
}

/** Writing blobs. */
export interface BlobWriter {
  /** Store what the stream holds; with `expected`, a different digest is E_DIGEST_MISMATCH and nothing is stored. */
  put(source: Readable | AsyncIterable<Uint8Array>, expected?: Digest, signal?: AbortSignal): Promise<BlobInfo>;
}

/** Resumable downloads: bytes collect in a partial file that a broken download leaves for the next one. */
export interface BlobIngester {
  /** Where a download of `digest` keeps its bytes until it is complete (never a final name). */
  partialPath(digest: Digest): string;
  /**
   * Move a complete download into the store, verified against `expected` (removed on a mismatch).
   * `written`: the digest of the bytes as the writer wrote them to `path` in one go, so that they
   * need not be read again.
   */
  adopt(path: string, expected: Digest, written?: Digest): Promise<BlobInfo>;
  /**
   * Be the only writer of `digest`'s partial file, across builds and processes sharing the store:
   * resolves with a release once no one else holds it (the caller then checks whether the blob
   * arrived meanwhile).
   */
  lockIngest(digest: Digest, signal?: AbortSignal): Promise<() => Promise<void>>;
}

/** What a pull needs of a store. */
export type ContentStore = BlobReader & BlobWriter & BlobIngester;
