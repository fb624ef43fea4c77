/**
 * The `docker` output without a file: the image archive streamed straight into a Docker daemon
 * through the Engine API's `POST /images/load` (what `docker load` does), over its unix socket or
 * TCP, no docker CLI needed. The daemon answers with JSON messages, one per line; one with an
 * `error` is a refusal.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KeelError } from '../errors.js';
import { imagePlatform, loadableImage, platformString, type BlobReader, type BuiltArtifact, type Platform } from '../image/index.js';
import { counting } from './destination.js';
import { imageArchive } from './oci-archive.js';
import { sending, type BuildOutput, type Sink } from './sink.js';

type Endpoint = { readonly socketPath: string } | { readonly host: string; readonly port: number };

/** `unix:///path` or `tcp://host:port` (plain HTTP, as the docker CLI speaks to tcp:// without TLS settings). */
export function dockerEndpoint(host: string): Endpoint {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  const tcp = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (tcp !== null) return { host: (tcp[1] as string).replace(/^\[|\]$/g, ''), port: Number(tcp[2] ?? 2375) };
  throw new KeelError('E_DOCKER', `DOCKER_HOST ${JSON.stringify(host)}: keel speaks to unix:// and tcp:// daemons`);
}

/** What the daemon said, as `Loaded image: app:1` lines; rejects with its error. */
async function loadMessages(res: IncomingMessage): Promise<string[]> {
  let body = '';
  for await (const chunk of res) body += (chunk as Buffer).toString('utf8');
  const messages: string[] = [];
  for (const line of body.split('\n').filter((l) => l.trim() !== '')) {
    let m: { stream?: unknown; error?: unknown; message?: unknown };
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      m = { error: line };
    }
    if (typeof m.error === 'string' || (res.statusCode !== 200 && typeof m.message === 'string')) {
      throw new KeelError('E_DOCKER', `the Docker daemon refused the image: ${String(m.error ?? m.message)}`);
    }
    if (typeof m.stream === 'string' && m.stream.trim() !== '') messages.push(m.stream.trim());
  }
  if (res.statusCode !== 200) throw new KeelError('E_DOCKER', `the Docker daemon answered ${res.statusCode} to the image load`);
  return messages;
}

/** Load the image (named by `tags`) into the daemon at `host`; resolves with the daemon's messages. */
export async function loadIntoDocker(artifact: BuiltArtifact, tags: readonly string[], blobs: BlobReader, prefer: Platform, host: string, signal?: AbortSignal, onBytes?: (bytes: number) => void): Promise<string[]> {
  const endpoint = dockerEndpoint(host);
  // node:http loaded here, not with the module: only builds that load into docker pay for it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { request } = require('node:http') as typeof import('node:http');
  const req = request({
    ...endpoint, method: 'POST', path: '/images/load', headers: { 'Content-Type': 'application/x-tar' }, ...(signal === undefined ? {} : { signal }),
  });
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  answered.catch(() => undefined); // read below, after the body went up (or failed)
  try {
    await pipeline(Readable.from(imageArchive(artifact, tags, blobs, prefer), { objectMode: false }), counting(onBytes), req);
    return await loadMessages(await answered);
  } catch (e) {
    if (signal?.aborted) throw new KeelError('E_ABORTED', 'build aborted');
    if (e instanceof KeelError) throw e;
    // a daemon that answers before it has read the whole archive (a refusal) closes the upload: its words say why
    const early = await Promise.race([answered.then((r) => r, () => undefined), Promise.resolve(undefined)]);
    if (early !== undefined) await loadMessages(early);
    const err = e as NodeJS.ErrnoException;
    throw new KeelError('E_DOCKER', `cannot load the image into the Docker daemon at ${host}: ${err.code ?? err.message}`, { cause: e });
  }
}

/** Docker's default socket, where DOCKER_HOST is not set. */
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

export const dockerSink: Sink<Extract<BuildOutput, { type: 'docker' }>> = {
  image: true,
  describe: () => 'exporting to the Docker daemon',
  check: async (o) => {
    if (o.host !== undefined) dockerEndpoint(o.host);
  },
  write: async (artifact, o, opts) => {
    const loaded = await loadIntoDocker(artifact, o.names ?? opts.tags, opts.blobs, opts.hostPlatform, o.host ?? DEFAULT_DOCKER_HOST, opts.signal, sending(opts));
    if (artifact.kind === 'image') return { loaded };
    // buildx's docker exporter refuses an index; keel loads the host's platform and says so
    const chosen = platformString(imagePlatform(loadableImage(artifact, opts.hostPlatform)));
    return { loaded, warnings: [`the Docker daemon's image store holds one platform per name: loaded ${chosen} only (an OCI archive or a push keeps every platform)`] };
  },
};
