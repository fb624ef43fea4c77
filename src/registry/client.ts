/**
 * A client for one repository of an OCI distribution registry (the Docker Registry HTTP API v2):
 * manifests by tag or digest, blobs streamed into the blob store and verified. Authentication
 * follows the registry's WWW-Authenticate challenge: Bearer (a token from the realm, for the
 * challenge's service and scope; Docker Hub, GHCR, ECR style) or Basic. 429, 5xx and dropped
 * connections are retried with backoff. No secret or token ever appears in an error.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { isKeelError, KeelError } from '../errors.js';
import { apiHost, HashCounter, schemeFor, sha256, type ContentStore, type Digest } from '../image/index.js';
import { findCredential, type AuthOption, type Credential } from './credentials.js';
import { parseDiagnostics, RegistryError } from './errors.js';
import type { Fetch } from './http.js';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export interface RegistryOptions {
  /** Registries to speak plain HTTP to (loopback ones always are). */
  readonly insecureRegistries?: readonly string[];
  /** Explicit credentials by registry (`{ 'ghcr.io': { username, password } }`). */
  readonly auth?: AuthOption;
  /** Where Docker's config.json is. @default ~/.docker */
  readonly dockerConfigDir?: string;
  readonly signal?: AbortSignal;
  /** Tries per request for 429/5xx/dropped connections. @default 4 */
  readonly attempts?: number;
  /** Blobs up to this size are uploaded in one PUT; larger ones in PATCH chunks of this size. @default 16 MiB */
  readonly uploadChunkSize?: number;
  /** How requests go out (through a proxy: http.ts). @default fetch */
  readonly fetch?: Fetch;
  /** Bytes of a blob moving (a download, an upload), as they go, and once more when it is done. */
  readonly onTransfer?: (t: Transfer) => void;
}

/** A blob's bytes moving: a pull's download or a push's upload (`current` of `total` bytes). */
export interface Transfer {
  readonly digest: Digest;
  readonly current: number;
  readonly total: number;
  readonly done: boolean;
}

/** Counts the bytes going through, for onTransfer. */
function counter(start: number, tell: (current: number) => void): Transform {
  let current = start;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      current += chunk.length;
      tell(current);
      cb(null, chunk);
    },
  });
}

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly digest: Digest;
  readonly mediaType: string;
}

type Challenge = { scheme: 'bearer'; realm: string; service?: string; scope?: string } | { scheme: 'basic' };

function parseChallenge(header: string | null): Challenge | undefined {
  if (header === null) return undefined;
  const m = /^(\w+)\s+(.*)$/.exec(header.trim());
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] as string).matchAll(/(\w+)="([^"]*)"/g)) params[(p[1] as string).toLowerCase()] = p[2] as string;
  const scheme = (m[1] as string).toLowerCase();
  if (scheme === 'basic') return { scheme: 'basic' };
  if (scheme === 'bearer' && params.realm) {
    return { scheme: 'bearer', realm: params.realm, ...(params.service ? { service: params.service } : {}), ...(params.scope ? { scope: params.scope } : {}) };
  }
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A stream re-cut into Buffers of exactly `size` bytes (the last may be shorter). */
async function* chunks(source: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let bytes = 0;
  for await (const c of source) {
    pending.push(c as Buffer);
    bytes += (c as Buffer).length;
    while (bytes >= size) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, size);
      pending = [all.subarray(size)];
      bytes = all.length - size;
    }
  }
  if (bytes > 0) yield Buffer.concat(pending);
}

export class RegistryClient {
  private readonly base: string;
  /** The registry's origin: credentials go to it and to nothing else. */
  private readonly origin: string;
  private authorization: string | undefined;
  /** The credential lookup, made once (its answer may be that there is none). */
  private credential: Promise<Credential | undefined> | undefined;

  constructor(
    readonly registry: string,
    readonly repository: string,
    private readonly opts: RegistryOptions = {},
  ) {
    this.base = `${schemeFor(registry, opts.insecureRegistries)}://${apiHost(registry)}/v2/${repository}`;
    this.origin = new URL(this.base).origin;
  }

  private async getCredential(): Promise<Credential | undefined> {
    this.credential ??= findCredential(this.registry, this.opts);
    return this.credential;
  }

  /** Pull-only, or pull and push: what a token is asked for. */
  private access: 'pull' | 'pull,push' = 'pull';

  /**
   * One request with auth and retries; the caller consumes or cancels the body. `path` is below
   * /v2/<repository>, or an absolute URL (an upload location). A body that is a stream cannot be
   * sent twice, so such a request is not retried.
   */
  private async request(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH',
    path: string,
    extra: { accept?: string; contentType?: string; contentRange?: string; range?: string; body?: Buffer | Readable } = {},
  ): Promise<Response> {
    const attempts = extra.body instanceof Readable ? 1 : (this.opts.attempts ?? 4);
    let authTried = false;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = {};
      if (extra.accept !== undefined) headers.accept = extra.accept;
      if (extra.contentType !== undefined) headers['content-type'] = extra.contentType;
      if (extra.contentRange !== undefined) headers['content-range'] = extra.contentRange;
      if (extra.range !== undefined) headers.range = extra.range;
      const url = /^https?:\/\//.test(path) ? path : `${this.base}${path}`;
      // an absolute URL the registry gave (an upload location) may be another host: it gets no credentials
      if (this.authorization !== undefined && new URL(url).origin === this.origin) headers.authorization = this.authorization;
      const body = extra.body instanceof Readable ? (Readable.toWeb(extra.body) as unknown as ReadableStream<Uint8Array>) : extra.body;
      let response: Response;
      try {
        response = await (this.opts.fetch ?? fetch)(url, {
          method, headers, redirect: 'follow',
          ...(body === undefined ? {} : { body, duplex: 'half' }),
          ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        } as RequestInit);
      } catch (e) {
        if (this.opts.signal?.aborted) throw new KeelError('E_ABORTED', 'pull aborted');
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        if (attempt < attempts) {
          await sleep(200 * 2 ** (attempt - 1));
          continue;
        }
        throw new RegistryError('E_REGISTRY', `registry ${this.registry} is not reachable: ${cause?.code ?? cause?.message ?? (e as Error).message}`, undefined, [], { cause: e });
      }
      // a 401 from where a redirect led (object storage, or a host that wants the credentials) is not
      // answered with the registry's: containerd and docker pick credentials by host the same way
      if (response.status === 401 && response.url !== '' && new URL(response.url).origin !== this.origin && new URL(url).origin === this.origin) {
        await response.body?.cancel();
        throw new RegistryError('E_AUTH', `${this.registry}: a redirect led to ${new URL(response.url).origin}, which asked for credentials: the registry's are not sent to another host`, 401);
      }
      if (response.status === 401 && !authTried && !(extra.body instanceof Readable)) {
        authTried = true;
        const challenge = parseChallenge(response.headers.get('www-authenticate'));
        await response.body?.cancel();
        await this.authenticate(challenge);
        attempt--; // an auth round trip is not a failed attempt
        continue;
      }
      if ((response.status === 429 || response.status >= 500) && attempt < attempts) {
        await response.body?.cancel();
        const retryAfter = Number(response.headers.get('retry-after'));
        await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 10) * 1000 : 200 * 2 ** (attempt - 1));
        continue;
      }
      return response;
    }
  }

  private async authenticate(challenge: Challenge | undefined): Promise<void> {
    const cred = await this.getCredential();
    if (challenge === undefined || challenge.scheme === 'basic') {
      if (cred === undefined) throw this.authError(401, undefined);
      this.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
      return;
    }
    let url: URL;
    try {
      url = new URL(challenge.realm);
    } catch {
      throw new RegistryError('E_AUTH', `${this.registry}: the token realm is not a URL`, 401);
    }
    // the user's password goes to the realm: over https, unless the registry itself is spoken to in plain HTTP
    const plain = schemeFor(this.registry, this.opts.insecureRegistries) === 'http';
    if (url.protocol !== 'https:' && !(plain && url.protocol === 'http:')) {
      throw new RegistryError('E_AUTH', `${this.registry}: the token realm ${url.origin} is not https (name the registry insecure to allow plain http)`, 401);
    }
    if (challenge.service) url.searchParams.set('service', challenge.service);
    url.searchParams.set('scope', challenge.scope ?? `repository:${this.repository}:${this.access}`);
    const headers: Record<string, string> = {};
    if (cred !== undefined) headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    let r: Response;
    try {
      r = await (this.opts.fetch ?? fetch)(url, { headers, ...(this.opts.signal ? { signal: this.opts.signal } : {}) });
    } catch (e) {
      throw new RegistryError('E_REGISTRY', `the token service of ${this.registry} (${url.origin}) is not reachable: ${(e as Error).message}`, undefined, [], { cause: e });
    }
    if (!r.ok) {
      await r.body?.cancel();
      throw this.authError(r.status, cred);
    }
    let body: { token?: string; access_token?: string };
    try {
      body = JSON.parse((await readAtMost(r, 1 << 20, `${this.registry}'s token answer`)).toString('utf8')) as { token?: string; access_token?: string };
    } catch (e) {
      if (isKeelError(e)) throw e;
      throw new RegistryError('E_AUTH', `the token service of ${this.registry} answered what is not JSON`, r.status, [], { cause: e });
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError('E_AUTH', `the token service of ${this.registry} answered without a token`, r.status);
    this.authorization = `Bearer ${token}`;
  }

  private authError(status: number, cred: Credential | undefined, diagnostics: readonly { code: string; message: string }[] = []): RegistryError {
    const tried = cred === undefined ? 'no credentials were found (auth option, Docker config.json, credential helpers)' : `the credentials from ${cred.source} were refused`;
    return new RegistryError('E_AUTH', `${this.registry} refused access to ${this.repository} (HTTP ${status}): ${tried}`, status, diagnostics);
  }

  private async failure(r: Response, what: string): Promise<never> {
    // an error body is read to 64 KiB at most (ggcr's transport reads the same)
    const diagnostics = parseDiagnostics(await readAtMost(r, 64 << 10, 'an error', true).then((b) => b.toString('utf8'), () => ''));
    const detail = diagnostics.map((e) => `${e.code}${e.message ? `: ${e.message}` : ''}`).join('; ');
    if (r.status === 401 || r.status === 403) throw this.authError(r.status, await this.getCredential(), diagnostics);
    if (r.status === 404) throw new RegistryError('E_NOT_FOUND', `${what} not found in ${this.registry}/${this.repository}${detail ? ` (${detail})` : ''}`, r.status, diagnostics);
    throw new RegistryError('E_REGISTRY', `${this.registry}: ${what}: HTTP ${r.status}${detail ? ` (${detail})` : ''}`, r.status, diagnostics);
  }

  /** The digest a tag points at, with a HEAD request (undefined when the registry does not say). */
  async resolveTag(tag: string): Promise<Digest | undefined> {
    const r = await this.request('HEAD', `/manifests/${tag}`, { accept: MANIFEST_TYPES.join(', ') });
    if (!r.ok) return this.failure(r, `tag ${tag}`);
    const d = r.headers.get('docker-content-digest');
    return d !== null && /^sha256:[a-f0-9]{64}$/.test(d) ? (d as Digest) : undefined;
  }

  /** A manifest or index by tag or digest; by digest, its bytes are checked against it. */
  async manifest(tagOrDigest: string): Promise<FetchedManifest> {
    const r = await this.request('GET', `/manifests/${tagOrDigest}`, { accept: MANIFEST_TYPES.join(', ') });
    if (!r.ok) return this.failure(r, `manifest ${tagOrDigest}`);
    // read to 4 MiB and no further: a registry cannot stream gigabytes into memory
    const bytes = await readAtMost(r, 4 << 20, `${this.registry}: manifest ${tagOrDigest}`);
    const digest = sha256(bytes);
    if (tagOrDigest.startsWith('sha256:') && digest !== tagOrDigest) {
      throw new KeelError('E_DIGEST_MISMATCH', `${this.registry}/${this.repository}: manifest ${tagOrDigest} has content ${digest}`);
    }
    const mediaType = (r.headers.get('content-type') ?? '').split(';')[0]?.trim() || ((JSON.parse(bytes.toString()) as { mediaType?: string }).mediaType ?? '');
    return { bytes, digest, mediaType };
  }

  // --- push ---

  /** Ask for push access from now on (the token is fetched again on the next challenge). */
  forPush(): void {
    if (this.access !== 'pull,push') {
      this.access = 'pull,push';
      this.authorization = undefined;
    }
  }

  async blobExists(digest: Digest): Promise<boolean> {
    const r = await this.request('HEAD', `/blobs/${digest}`);
    await r.body?.cancel();
    if (r.status === 200) return true;
    if (r.status === 404) return false;
    return this.failure(r, `blob ${digest}`);
  }

  /** Mount a blob from another repository of the same registry; false when the registry will not. */
  async mountBlob(digest: Digest, from: string): Promise<boolean> {
    const r = await this.request('POST', `/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`);
    await r.body?.cancel();
    if (r.status === 201) return true;
    if (r.status === 202) {
      // the registry opened an upload instead; close it by starting ours afresh
      return false;
    }
    return this.failure(r, `mount of ${digest} from ${from}`);
  }

  /**
   * Upload a blob: open a session, then either one PUT with the whole blob (monolithic, up to
   * `uploadChunkSize`) or PATCH requests of `uploadChunkSize` bytes with Content-Range (chunked),
   * closed by PUT ?digest=.
   */
  async uploadBlob(digest: Digest, size: number, open: () => Promise<Readable>): Promise<void> {
    const chunkSize = this.opts.uploadChunkSize ?? 16 << 20;
    const start = await this.request('POST', '/blobs/uploads/');
    await start.body?.cancel();
    if (start.status !== 202) return this.failure(start, `upload of ${digest}`);
    const location = (where: Response): string => {
      const loc = where.headers.get('location');
      if (loc === null) throw new RegistryError('E_REGISTRY', `${this.registry}: upload answer without a Location`, where.status);
      return new URL(loc, this.base).toString();
    };
    const withDigest = (at: string): string => `${at}${at.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
    let at = location(start);
    if (size <= chunkSize) {
      const parts: Buffer[] = [];
      for await (const c of await open()) parts.push(c as Buffer);
      const body = Buffer.concat(parts);
      const done = await this.request('PUT', withDigest(at), { contentType: 'application/octet-stream', body });
      await done.body?.cancel();
      if (done.status !== 201) return this.failure(done, `upload of ${digest}`);
      this.opts.onTransfer?.({ digest, current: size, total: size, done: true });
      return;
    }
    let offset = 0;
    for await (const chunk of chunks(await open(), chunkSize)) {
      const patch = await this.request('PATCH', at, {
        contentType: 'application/octet-stream',
        contentRange: `${offset}-${offset + chunk.length - 1}`,
        body: chunk,
      });
      await patch.body?.cancel();
      if (patch.status !== 202) return this.failure(patch, `upload of ${digest} (bytes ${offset}+)`);
      at = location(patch);
      offset += chunk.length;
      this.opts.onTransfer?.({ digest, current: offset, total: size, done: false });
    }
    const done = await this.request('PUT', withDigest(at), { contentType: 'application/octet-stream', body: Buffer.alloc(0) });
    await done.body?.cancel();
    if (done.status !== 201) return this.failure(done, `upload of ${digest}`);
    this.opts.onTransfer?.({ digest, current: size, total: size, done: true });
  }

  async putManifest(tag: string, bytes: Buffer, mediaType: string): Promise<Digest> {
    const r = await this.request('PUT', `/manifests/${tag}`, { contentType: mediaType, body: bytes });
    await r.body?.cancel();
    if (r.status !== 201) return this.failure(r, `manifest ${tag}`);
    const d = r.headers.get('docker-content-digest');
    return d !== null && /^sha256:[a-f0-9]{64}$/.test(d) ? (d as Digest) : sha256(bytes);
  }

  /**
   * Download a blob into the store, verified against its digest (nothing is stored on a mismatch).
   * The bytes go to a partial file first; when a connection drops, the next attempt (or the next
   * build) asks for the rest with a Range request and appends (a registry that answers 200 instead
   * of 206 sends it all again). A digest mismatch is final and the partial file is dropped.
   */
  async fetchBlob(digest: Digest, store: ContentStore, size: number, copy?: BlobCopy): Promise<void> {
    if ((await store.stat(digest)) === size) return;
    // one download of a blob at a time, whichever build of this cache asks: the others wait and find it stored
    const release = await store.lockIngest(digest, this.opts.signal);
    try {
      if ((await store.stat(digest)) === size) return;
      await this.download(digest, store, size, copy);
      this.opts.onTransfer?.({ digest, current: size, total: size, done: true });
    } finally {
      await release();
    }
  }

  private async download(digest: Digest, store: ContentStore, size: number, copy?: BlobCopy): Promise<void> {
    const partial = store.partialPath(digest);
    await mkdir(dirname(partial), { recursive: true });
    const attempts = this.opts.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      let have = (await stat(partial).catch(() => undefined))?.size ?? 0;
      if (size >= 0 && have >= size) have = 0; // complete but not adopted, or bigger than it should be: start over
      const r = await this.request('GET', `/blobs/${digest}`, have > 0 ? { range: `bytes=${have}-` } : {});
      if (!(r.status === 200 || r.status === 206) || r.body === null) return this.failure(r, `blob ${digest}`);
      const append = r.status === 206 && have > 0;
      // a copy of the bytes only for a first, whole download (a resumed one starts part way)
      const sink = attempt === 1 && !append ? await copy?.() : undefined;
      // a whole download is hashed as it is written (the store need not read it again)
      const hash = append ? undefined : new HashCounter();
      try {
        const told = this.opts.onTransfer;
        await pipeline(
          Readable.fromWeb(r.body as WebReadableStream<Uint8Array>), atMost(size - (append ? have : 0), digest), ...(sink === undefined ? [] : [teeTo(sink)]),
          ...(told === undefined ? [] : [counter(append ? have : 0, (current) => told({ digest, current, total: size, done: false }))]),
          ...(hash === undefined ? [] : [hash]), createWriteStream(partial, { flags: append ? 'a' : 'w' }), this.opts.signal === undefined ? {} : { signal: this.opts.signal },
        );
      } catch (e) {
        sink?.destroy(e as Error);
        if (this.opts.signal?.aborted) throw new KeelError('E_ABORTED', 'pull aborted');
        if (isKeelError(e, 'E_DIGEST_MISMATCH')) {
          await rm(partial, { force: true });
          throw e;
        }
        if (attempt >= attempts) {
          throw new RegistryError('E_REGISTRY', `${this.registry}: the download of ${digest} broke off ${attempts} times (what arrived is kept, and the next try resumes): ${(e as Error).message}`, undefined, [], { cause: e });
        }
        await sleep(200 * 2 ** (attempt - 1));
        continue;
      }
      await store.adopt(partial, digest, hash?.digest());
      return;
    }
  }


}

/**
 * A response body read into memory, at most `limit` bytes: more is E_REGISTRY (or, with `cut`, the
 * first `limit` bytes, the rest cancelled).
 */
export async function readAtMost(r: Response, limit: number, what: string, cut = false): Promise<Buffer> {
  const parts: Buffer[] = [];
  let bytes = 0;
  if (r.body === null) return Buffer.alloc(0);
  const reader = r.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.length;
    if (bytes > limit) {
      await reader.cancel();
      if (cut) {
        parts.push(Buffer.from(value.subarray(0, value.length - (bytes - limit))));
        break;
      }
      throw new RegistryError('E_REGISTRY', `${what} is larger than ${limit >= 1 << 20 ? `${limit >> 20} MiB` : `${limit >> 10} KiB`}`, r.status);
    }
    parts.push(Buffer.from(value));
  }
  return Buffer.concat(parts);
}

/**
 * Where a copy of a blob's bytes goes as they download (a layer unpacked in the same pass), asked
 * for when a whole download starts; its end or destruction says how the download went. A copy that
 * fails never fails the download.
 */
export type BlobCopy = () => Promise<Writable | undefined>;

/** Pass the bytes on, and write each to `sink` too, at the slower one's pace. */
function teeTo(sink: Writable): Transform {
  let dead = false;
  sink.once('error', () => { dead = true; });
  sink.once('close', () => { dead = true; });
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (dead || sink.write(chunk)) return done(null, chunk);
      const go = (): void => {
        sink.off('drain', go);
        sink.off('close', go);
        done(null, chunk);
      };
      sink.on('drain', go);
      sink.on('close', go);
    },
    flush(done) {
      if (!dead) sink.end();
      done();
    },
  });
}

/** Passes at most `limit` bytes (a negative limit: no limit); more is E_DIGEST_MISMATCH (a registry sending more than the descriptor says). */
function atMost(limit: number, digest: Digest): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (limit >= 0 && seen > limit) return done(new KeelError('E_DIGEST_MISMATCH', `blob ${digest} is larger than its descriptor says (${limit} bytes)`));
      done(null, chunk);
    },
  });
}
