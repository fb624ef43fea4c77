/**
 * HTTP_PROXY / HTTPS_PROXY / NO_PROXY: registries and ADD URLs reached through a proxy the test
 * runs (plain HTTP proxying, and CONNECT for https), the names it serves existing nowhere else
 * (`keel-proxy.test` resolves to nothing), so a build that succeeds went through it.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { proxiedFetch, proxyFromEnv } from '../../src/registry/http';
import { busyboxArchive } from '../support/busybox-base';
import { flattenArchive } from '../support/image-tree';
import { describeIntegration, REGISTRY } from '../support/integration';

const NAME = 'keel-proxy.test';

/** A forwarding proxy: `keel-proxy.test:5000` is the test registry, `keel-proxy.test` serves one file; CONNECT is refused. */
function startProxy(registry: string): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '/');
    if (target.host === NAME) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('through the proxy\n');
      return;
    }
    if (target.host !== `${NAME}:5000`) {
      res.writeHead(502).end();
      return;
    }
    const [host, port] = registry.split(':');
    const up = request({ host, port: Number(port), method: req.method, path: `${target.pathname}${target.search}`, headers: { ...req.headers, host: registry } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  server.on('connect', (req: IncomingMessage, socket) => {
    seen.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen })));
}

test('the proxy variables are read as Go reads them: upper case first, none set means none', () => {
  expect(proxyFromEnv({})).toBeUndefined();
  expect(proxyFromEnv({ NO_PROXY: 'x' })).toBeUndefined();
  expect(proxyFromEnv({ https_proxy: 'http://p:1', HTTPS_PROXY: 'http://P:2', no_proxy: 'a,b' })).toEqual({ httpsProxy: 'http://P:2', noProxy: 'a,b' });
  expect(proxyFromEnv({ http_proxy: 'http://p:1' })).toEqual({ httpProxy: 'http://p:1' });
});

test('loopback hosts and NO_PROXY names go direct; others through the proxy', async () => {
  const direct = createServer((_req, res) => res.end('direct\n'));
  await new Promise<void>((r) => direct.listen(0, '127.0.0.1', r));
  const { server, url, seen } = await startProxy('127.0.0.1:1');
  try {
    const f = proxiedFetch({ httpProxy: url, noProxy: `${NAME}` });
    const port = (direct.address() as AddressInfo).port;
    expect(await (await f(`http://127.0.0.1:${port}/`)).text()).toBe('direct\n');
    expect(await (await f(`http://localhost:${port}/`)).text()).toBe('direct\n');
    await expect(f(`http://${NAME}/greeting.txt`)).rejects.toThrow(); // direct: the name resolves to nothing
    expect(seen).toEqual([]);
    const viaProxy = proxiedFetch({ httpProxy: url });
    expect(await (await viaProxy(`http://${NAME}/greeting.txt`)).text()).toBe('through the proxy\n');
    expect(seen).toEqual([`GET http://${NAME}/greeting.txt`]);
  } finally {
    server.close();
    direct.close();
  }
});

describeIntegration('builds behind a proxy', ['registry', 'busybox'], () => {
  let dir: string;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-proxy-'));
    proxy = await startProxy(REGISTRY as string);
    // a small base in the test registry, to be pulled back through the proxy under the proxy's name
    await build({ context: dir, dockerfile: { text: 'FROM base\n' }, baseImages: { base: await busyboxArchive(join(dir, 'bb')) }, cacheDir: join(dir, 'push-cache'), tags: [`${REGISTRY as string}/keel-test/proxy-base:1`], output: { type: 'registry' } });
  }, 120_000);
  afterAll(async () => {
    proxy.server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('FROM a registry and ADD of a URL both go through HTTP_PROXY', async () => {
    const ctx = join(dir, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${NAME}:5000/keel-test/proxy-base:1\nADD http://${NAME}/greeting.txt /greeting.txt\n`);
    const out = join(dir, 'out.tar');
    await build({ context: ctx, cacheDir: join(dir, 'cache'), insecureRegistries: [`${NAME}:5000`], proxy: { httpProxy: proxy.url }, output: { type: 'oci-archive', path: out } });
    expect(proxy.seen).toContain(`GET http://${NAME}/greeting.txt`);
    expect(proxy.seen).toContain(`HEAD http://${NAME}:5000/v2/keel-test/proxy-base/manifests/1`);
    expect(proxy.seen.filter((l) => l.startsWith(`GET http://${NAME}:5000/v2/keel-test/proxy-base/blobs/`))).toHaveLength(2); // config and layer
    const image = await flattenArchive(out);
    expect(image.tree['greeting.txt']?.sha256).toBe(createHash('sha256').update('through the proxy\n').digest('hex'));
    expect(image.tree['bin/busybox']?.type).toBe('file');
  });

  test('an https registry is asked for through HTTPS_PROXY with CONNECT; a refusal is E_REGISTRY', async () => {
    proxy.seen.length = 0;
    let caught: unknown;
    try {
      await build({ context: dir, dockerfile: { text: `FROM ${NAME}/keel-test/nothing:1\n` }, cacheDir: join(dir, 'cache'), proxy: { httpsProxy: proxy.url } });
    } catch (e) {
      caught = e;
    }
    expect(isKeelError(caught)).toBe(true);
    expect((caught as { code: string }).code).toMatch(/E_REGISTRY|E_AUTH/);
    expect(proxy.seen).toContain(`CONNECT ${NAME}:443`);
  });
});
