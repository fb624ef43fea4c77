/**
 * ADD of an HTTP(S) URL (BuildKit's source/http): the body streams into the blob store, verified
 * against `--checksum` when one is given (a mismatch stores nothing). The file is named after the
 * URL's last path segment, or `__unnamed__`. Git URLs are not supported yet. Credentials in a URL
 * never appear in messages or history.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { BlobStore } from '../cache/index.js';
import { KeelError, isKeelError } from '../errors.js';
import { isDigest, type Digest } from '../image/index.js';
import type { Fetch } from '../registry/index.js';

export const isRemote = (src: string): boolean => /^https?:\/\//i.test(src) || /^git@|^[a-z]+:\/\/.*\.git(#|$)/i.test(src);

/**
 * Text (an instruction as written, an error) with the user:password@ of every URL in it left out,
 * so that `ADD https://user:token@host/f` shows no token in a step's name or a log.
 */
export function redactUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1');
}

/** The URL with any user:password@ removed. */
export function redactUrl(src: string): string {
  try {
    const u = new URL(src);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return src.replace(/\/\/[^@/]*@/, '//');
  }
}

export interface Download {
  readonly name: string;
  readonly digest: Digest;
  readonly size: number;
  /** Last-Modified, in seconds, when the server sent one. */
  readonly lastModified?: number;
}

export async function download(src: string, store: BlobStore, checksum: string | undefined, httpFetch: Fetch, signal?: AbortSignal): Promise<Download> {
  const shown = redactUrl(src);
  if (!/^https?:\/\//i.test(src)) throw new KeelError('E_UNSUPPORTED', `ADD ${shown}: git sources are not supported yet`);
  if (checksum !== undefined && !isDigest(checksum)) throw new KeelError('E_BUILD_INPUT', `invalid checksum ${JSON.stringify(checksum)}: want sha256:<64 hex>`);
  // user:password@ in the URL becomes Basic auth, as Go's HTTP client (BuildKit's) sends it
  const url = new URL(src);
  const headers: Record<string, string> = {};
  if (url.username !== '' || url.password !== '') {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  }
  const target = redactUrl(src);
  const scrub = (message: string): string => message.split(src).join(shown).replace(/\/\/[^/@\s]*@/g, '//');
  let response: Response;
  try {
    response = await httpFetch(target, { redirect: 'follow', headers, ...(signal === undefined ? {} : { signal }) });
  } catch (e) {
    // undici says "fetch failed" and puts what happened (ECONNREFUSED, ENOTFOUND...) in the cause
    const cause = (e as { cause?: unknown }).cause;
    const detail = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown; message?: unknown }) : {};
    const why = [detail.code, detail.message].filter((x): x is string => typeof x === 'string' && x !== '').join(': ');
    throw new KeelError('E_BUILD_INPUT', `ADD ${shown}: ${scrub(why || (e as Error).message)}`);
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new KeelError('E_BUILD_INPUT', `ADD ${shown}: HTTP ${response.status} ${response.statusText}`);
  }
  let blob;
  try {
    blob = await store.put(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), checksum as Digest | undefined, signal);
  } catch (e) {
    if (isKeelError(e, 'E_DIGEST_MISMATCH')) throw new KeelError('E_DIGEST_MISMATCH', `ADD ${shown}: checksum mismatch: ${e.message}`);
    throw e;
  }
  const path = new URL(response.url || src).pathname;
  const segment = path.slice(path.lastIndexOf('/') + 1);
  const decoded = decodeURIComponent(segment);
  const last = decoded.includes('/') || decoded.includes('\0') ? segment : decoded; // a name, never a path
  const modified = Date.parse(response.headers.get('last-modified') ?? '');
  return {
    name: last === '' || last === '.' || last === '..' ? '__unnamed__' : last,
    digest: blob.digest,
    size: blob.size,
    ...(Number.isNaN(modified) ? {} : { lastModified: Math.floor(modified / 1000) }),
  };
}
