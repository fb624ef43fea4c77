/**
 * Credentials stay with the registry's origin (issue 24): an upload location on another host (a
 * second loopback port here) gets no Authorization, a redirect target's challenge is not answered
 * with the registry's password, and a token realm must be https unless the registry is spoken to in
 * plain HTTP. The registries are small servers of the test's own on 127.0.0.1.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isKeelError } from '../../src';
import { BlobStore } from '../../src/cache/blob-store';
import { sha256 } from '../../src/image';
import { RegistryClient, type Fetch } from '../../src/registry';

const USER = 'scope-user';
const PASSWORD = 'scope-password-never-elsewhere';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

interface Seen { readonly method: string; readonly url: string; readonly authorization: string | undefined }

async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => handle(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, seen };
}
const close = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-cred-scope-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A registry that wants Basic auth for everything under /v2/. */
const basicRegistry = (rest: (req: IncomingMessage, res: ServerResponse) => void) => (req: IncomingMessage, res: ServerResponse): void => {
  if (req.headers.authorization !== BASIC) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="scope-test"' });
    res.end();
    return;
  }
  rest(req, res);
};

test('an upload location on another host gets no credentials', async () => {
  const other = await serve((req, res) => {
    res.writeHead(req.method === 'PUT' ? 201 : 202);
    res.end();
  });
  const registry = await serve(basicRegistry((req, res) => {
    if (req.method === 'POST') {
      res.writeHead(202, { location: `http://127.0.0.1:${other.port}/upload/1` });
      res.end();
      return;
    }
    res.writeHead(404);
    res.end();
  }));
  try {
    const client = new RegistryClient(`127.0.0.1:${registry.port}`, 'app', { auth: { [`127.0.0.1:${registry.port}`]: { username: USER, password: PASSWORD } } });
    const body = Buffer.from('layer bytes');
    await client.uploadBlob(sha256(body), body.length, async () => Readable.from([body]));
    expect(registry.seen.some((s) => s.authorization === BASIC)).toBe(true); // the registry had them
    expect(other.seen.map((s) => s.method)).toEqual(['PUT']);
    expect(other.seen.map((s) => s.authorization)).toEqual([undefined]);
  } finally {
    await close(other.server);
    await close(registry.server);
  }
});

test('a blob redirected to a host that then asks for credentials: refused, the password never sent there', async () => {
  const body = Buffer.from('blob bytes');
  const digest = sha256(body);
  const other = await serve((req, res) => {
    if (req.url?.startsWith('/token') === true) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"token":"stolen"}');
      return;
    }
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${(req.socket.address() as { port: number }).port}/token",service="x"` });
    res.end();
  });
  const registry = await serve(basicRegistry((req, res) => {
    res.writeHead(307, { location: `http://127.0.0.1:${other.port}/storage/blob` });
    res.end();
  }));
  try {
    const client = new RegistryClient(`127.0.0.1:${registry.port}`, 'app', { auth: { [`127.0.0.1:${registry.port}`]: { username: USER, password: PASSWORD } }, attempts: 1 });
    const err = await client.fetchBlob(digest, new BlobStore(join(dir, 'store')), body.length).catch((e: unknown) => e);
    expect(isKeelError(err, 'E_AUTH')).toBe(true);
    expect((err as Error).message).toMatch(/redirect led to http:\/\/127\.0\.0\.1:\d+, which asked for credentials/);
    expect(other.seen.filter((s) => s.url.startsWith('/token'))).toEqual([]);
    expect(other.seen.every((s) => s.authorization === undefined)).toBe(true);
  } finally {
    await close(other.server);
    await close(registry.server);
  }
});

test('a token realm over plain http is refused for an https registry; loopback and insecure registries may use one', async () => {
  const asked: string[] = [];
  const fake: Fetch = async (input, init) => {
    const url = String(input);
    asked.push(`${url} ${(init?.headers as Record<string, string> | undefined)?.authorization ?? ''}`);
    return new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="http://auth.example/token",service="r"' } });
  };
  const client = new RegistryClient('registry.example', 'app', { fetch: fake, auth: { 'registry.example': { username: USER, password: PASSWORD } }, attempts: 1 });
  const err = await client.manifest('latest').catch((e: unknown) => e);
  expect(isKeelError(err, 'E_AUTH')).toBe(true);
  expect((err as Error).message).toMatch(/token realm http:\/\/auth\.example is not https/);
  expect(asked.some((a) => a.startsWith('http://auth.example'))).toBe(false);
  // named insecure: the realm may be plain http too
  asked.length = 0;
  const insecure = new RegistryClient('registry.example', 'app', { fetch: fake, insecureRegistries: ['registry.example'], auth: { 'registry.example': { username: USER, password: PASSWORD } }, attempts: 1 });
  await insecure.manifest('latest').catch(() => undefined);
  expect(asked.some((a) => a.startsWith('http://auth.example/token'))).toBe(true);
});

test('a manifest larger than 4 MiB is refused while it is read', async () => {
  let sent = 0;
  const registry = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    const chunk = Buffer.alloc(1 << 20, 0x20);
    const more = (): void => {
      while (sent < 64 << 20) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  try {
    const client = new RegistryClient(`127.0.0.1:${registry.port}`, 'app', { attempts: 1 });
    const err = await client.manifest('latest').catch((e: unknown) => e);
    expect([isKeelError(err, 'E_REGISTRY'), (err as Error).message]).toEqual([true, expect.stringMatching(/larger than 4 MiB/)]);
    expect(sent).toBeLessThan(32 << 20); // the rest was never asked for
  } finally {
    registry.server.closeAllConnections();
    await close(registry.server);
  }
});
