/** ADD of HTTP URLs, against a server of the test's own on 127.0.0.1 (and against docker build). */
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { build, DockerfileError, isKeelError } from '../../src';
import { sha256 } from '../../src/image/digest';
import { comparableConfig, flattenArchive } from '../support/image-tree';
import { describeIntegration, docker, dockerAsync } from '../support/integration';
import { tarOf } from '../support/tar-fixtures';

let server: Server;
let base: string;
let dir: string;
let archive: Buffer;
const seen: string[] = [];

beforeAll(async () => {
  archive = await tarOf([{ name: 'inside.txt', body: 'i' }], true);
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/files/hello.txt') {
      res.writeHead(200, { 'last-modified': 'Wed, 01 Jan 2020 00:00:00 GMT' });
      res.end('hello over http\n');
    } else if (req.url === '/files/pkg.tar.gz') res.end(archive);
    else if (req.url === '/') res.end('root');
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-url-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function ctxWith(dockerfile: string): Promise<string> {
  const ctx = join(dir, 'ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  return ctx;
}

test('a URL is downloaded, named after its path, mode 0600, and an archive is not extracted', async () => {
  const ctx = await ctxWith(`FROM scratch\nADD ${base}/files/hello.txt /d/\nADD ${base}/files/pkg.tar.gz /d/\nADD ${base}/ /unnamed/\nADD ${base}/files/hello.txt /renamed.txt\n`);
  await build({ context: ctx, cacheDir: join(dir, 'c'), output: { type: 'oci-archive', path: join(dir, 'o.tar') } });
  const { tree } = await flattenArchive(join(dir, 'o.tar'));
  expect(tree['d/hello.txt']).toMatchObject({ type: 'file', mode: 0o600, sha256: sha256('hello over http\n').slice(7) });
  expect(tree['d/pkg.tar.gz']).toMatchObject({ type: 'file', size: archive.length });
  expect(tree['unnamed/__unnamed__']).toMatchObject({ type: 'file', size: 4 });
  expect(tree['renamed.txt']).toMatchObject({ type: 'file', mode: 0o600 });
});

test('--checksum is verified; a mismatch, a 404 and a refused connection are clear errors that name no credentials', async () => {
  const good = sha256('hello over http\n');
  const ok = await ctxWith(`FROM scratch\nADD --checksum=${good} ${base}/files/hello.txt /h\n`);
  await expect(build({ context: ok, cacheDir: join(dir, 'c') })).resolves.toBeDefined();
  const closed = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const cases: Array<[string, string, RegExp]> = [
    [`ADD --checksum=${sha256('other')} ${base}/files/hello.txt /h`, 'E_DIGEST_MISMATCH', /checksum mismatch/],
    [`ADD http://user:s3cret@127.0.0.1:${new URL(base).port}/missing /m`, 'E_BUILD_INPUT', /HTTP 404/],
    [`ADD http://user:s3cret@127.0.0.1:${closed}/x /x`, 'E_BUILD_INPUT', /ECONNREFUSED/],
    [`ADD http://127.0.0.1:${closed}/x /x`, 'E_BUILD_INPUT', /ECONNREFUSED/],
    [`ADD --checksum=md5:abc ${base}/files/hello.txt /h`, 'E_BUILD_INPUT', /invalid checksum/],
    ['ADD git@github.com:org/repo.git /r', 'E_UNSUPPORTED', /git sources are not supported yet/],
  ];
  for (const [line, code, message] of cases) {
    const ctx = await ctxWith(`FROM scratch\n${line}\n`);
    const e = await build({ context: ctx, cacheDir: join(dir, 'c') }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(DockerfileError);
    expect([line, isKeelError(e, code as never)]).toEqual([line, true]);
    expect((e as Error).message).toMatch(message);
    expect((e as Error).message).not.toContain('s3cret');
  }
  // credentials in the URL go as Basic auth, not in the request line
  seen.length = 0;
  const authed = await ctxWith(`FROM scratch\nADD http://user:s3cret@127.0.0.1:${new URL(base).port}/files/hello.txt /h\n`);
  const r = await build({ context: authed, cacheDir: join(dir, 'c') });
  expect(seen).toEqual(['/files/hello.txt']);
  expect(JSON.stringify(r.image.config.history)).not.toContain('s3cret');
});

describeIntegration('ADD of a URL, as docker build does it', ['docker'], () => {
  test('the same file, name and mode', async () => {
    const ctx = await ctxWith(`FROM scratch\nADD ${base}/files/hello.txt /d/\nADD ${base}/files/pkg.tar.gz /d/\n`);
    const ours = join(dir, 'keel.tar');
    await build({ context: ctx, cacheDir: join(dir, 'c'), tags: ['keel-test/url:keel'], output: { type: 'oci-archive', path: ours } });
    await dockerAsync(['build', '--network=none', '-q', '-t', 'keel-test/url:docker', ctx]); // docker fetches from our server
    docker(['save', '-o', join(dir, 'docker.tar'), 'keel-test/url:docker']);
    const [a, b] = await Promise.all([flattenArchive(ours), flattenArchive(join(dir, 'docker.tar'))]);
    expect(a.tree).toEqual(b.tree);
    expect(comparableConfig(a.config)).toEqual(comparableConfig(b.config));
    docker(['rmi', '-f', 'keel-test/url:docker'], { check: false });
  });
});
