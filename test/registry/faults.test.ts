/**
 * Pulls that go wrong: a blob damaged in the registry's own storage, connections that drop in the
 * middle of a blob (through a proxy of the test's own on 127.0.0.1). Each ends in the expected
 * error or in a retry that succeeds, and the cache stays intact either way.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { REGISTRY, REGISTRY_DATA, describeIntegration } from '../support/integration';

describeIntegration('registry faults', ['registry'], () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-faults-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Push a FROM scratch image with `size` random bytes; returns its big layer's digest. */
  async function pushRandom(repo: string, size: number): Promise<string> {
    const ctx = join(dir, repo.replace(/\W/g, '-'));
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY blob /blob\n');
    await writeFile(join(ctx, 'blob'), randomBytes(size));
    const r = await build({ context: ctx, cacheDir: join(dir, 'push-cache'), tags: [`${REGISTRY}/${repo}:1`], output: { type: 'registry' }, compression: 'none' });
    return (r.layers[0] as { digest: string }).digest;
  }

  async function fromImage(image: string, cache: string) {
    const ctx = join(dir, `from-${randomBytes(4).toString('hex')}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${image}\nLABEL pulled=yes\n`);
    return build({ context: ctx, cacheDir: cache });
  }

  async function storeHasNoPartials(cache: string, digest: string): Promise<void> {
    const blobs = join(cache, 'blobs', 'sha256');
    const names = await readdir(blobs).catch(() => [] as string[]);
    expect(names).not.toContain(digest.slice(7));
    expect(names.filter((n) => n.startsWith('.ingest'))).toEqual([]);
  }

  test('a blob damaged in the registry storage is E_DIGEST_MISMATCH; nothing is stored; the cache stays usable', async () => {
    const digest = await pushRandom('keel-test/damaged', 256 * 1024);
    const hex = digest.slice(7);
    const data = join(REGISTRY_DATA as string, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    const { size } = await stat(data);
    await writeFile(data, randomBytes(size)); // same size, other bytes
    const cache = join(dir, 'cache-damaged');
    const e = await fromImage(`${REGISTRY}/keel-test/damaged:1`, cache).then(() => undefined, (x: unknown) => x);
    expect(isKeelError(e, 'E_DIGEST_MISMATCH')).toBe(true);
    await storeHasNoPartials(cache, digest);
    const other = await pushRandom('keel-test/healthy', 1024);
    await expect(fromImage(`${REGISTRY}/keel-test/healthy:1`, cache)).resolves.toMatchObject({ layers: [expect.objectContaining({ digest: other })] });
  });

  test('uploads: small blobs in one PUT, large ones in PATCH chunks with Content-Range; both pull back intact', async () => {
    const seen: string[] = [];
    const counter = createServer((req, res) => {
      seen.push(`${req.method} ${req.headers['content-range'] ?? ''}`);
      const [host, port] = (REGISTRY as string).split(':');
      const upstream = request({ host, port: Number(port), path: req.url, method: req.method, headers: req.headers }, (up) => {
        // keep upload Locations pointing at this proxy
        const headers = { ...up.headers };
        if (typeof headers.location === 'string') headers.location = headers.location.replace(`http://${REGISTRY as string}`, '');
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((r) => counter.listen(0, '127.0.0.1', r));
    try {
      const at = `127.0.0.1:${(counter.address() as AddressInfo).port}`;
      const ctx = join(dir, 'chunked');
      await mkdir(ctx, { recursive: true });
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
      await writeFile(join(ctx, 'big'), randomBytes(700 * 1024));
      const r = await build({
        context: ctx, cacheDir: join(dir, 'chunk-cache'), tags: [`${at}/keel-test/chunked:1`], output: { type: 'registry' },
        compression: 'none', uploadChunkSize: 256 * 1024,
      });
      const patches = seen.filter((s) => s.startsWith('PATCH'));
      expect(patches).toEqual(['PATCH 0-262143', 'PATCH 262144-524287', expect.stringMatching(/^PATCH 524288-\d+$/)]);
      expect(seen.filter((s) => s.startsWith('PUT')).length).toBe(3); // the layer's closing PUT, the small config's one PUT, the manifest
      const back = await fromImage(`${REGISTRY}/keel-test/chunked:1`, join(dir, 'chunk-back'));
      expect(back.layers.map((l) => l.digest)).toEqual(r.layers.map((l) => l.digest));
    } finally {
      await new Promise<void>((res) => counter.close(() => res()));
    }
  });

  describe('connections dropped in the middle of a blob', () => {
    let proxy: Server;
    let cutsLeft = 0;
    let tamperManifests = false;
    let blobGets = 0;
    let target = '';
    const ranges: Array<[string, number]> = []; // the Range header of each blob GET, and the answer's status

    beforeAll(async () => {
      target = await pushRandom('keel-test/flaky', 2 * 1024 * 1024);
      proxy = createServer((req, res) => {
        const [host, port] = (REGISTRY as string).split(':');
        const upstream = request({ host, port: Number(port), path: req.url, method: req.method, headers: req.headers }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          if (tamperManifests && req.method === 'GET' && /\/manifests\/sha256:/.test(req.url ?? '')) {
            // a manifest fetched by digest, with one byte changed on the way
            const parts: Buffer[] = [];
            up.on('data', (c: Buffer) => parts.push(c));
            up.on('end', () => {
              const body = Buffer.concat(parts);
              body[body.length - 2] = 0x20;
              res.end(body);
            });
            return;
          }
          const isBlob = req.method === 'GET' && req.url?.endsWith(`/blobs/${target}`);
          if (isBlob) {
            blobGets++;
            ranges.push([String(req.headers.range ?? ''), up.statusCode ?? 0]);
          }
          if (isBlob && cutsLeft > 0) {
            cutsLeft--;
            let sent = 0;
            up.on('data', (chunk: Buffer) => {
              sent += chunk.length;
              if (sent > 512 * 1024) {
                up.destroy();
                res.socket?.destroy(); // the connection drops half-way through the body
              } else res.write(chunk);
            });
            return;
          }
          up.pipe(res);
        });
        req.pipe(upstream);
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    });
    afterAll(() => new Promise<void>((r) => proxy.close(() => r())));

    const viaProxy = () => `127.0.0.1:${(proxy.address() as AddressInfo).port}/keel-test/flaky:1`;

    test('a manifest whose content does not match the digest asked for is E_DIGEST_MISMATCH', async () => {
      const good = await fromImage(`${REGISTRY}/keel-test/flaky:1`, join(dir, 'cache-manifest-good'));
      const digest = good.image.manifest.annotations?.['org.opencontainers.image.base.digest'] as string;
      tamperManifests = true;
      try {
        const e = await fromImage(`127.0.0.1:${(proxy.address() as AddressInfo).port}/keel-test/flaky@${digest}`, join(dir, 'cache-manifest'))
          .then(() => undefined, (x: unknown) => x);
        expect(isKeelError(e, 'E_DIGEST_MISMATCH')).toBe(true);
      } finally {
        tamperManifests = false;
      }
    });

    test('one drop: the rest is asked for with a Range request, and the build succeeds', async () => {
      cutsLeft = 1;
      blobGets = 0;
      ranges.length = 0;
      const r = await fromImage(viaProxy(), join(dir, 'cache-flaky'));
      expect(r.layers.map((l) => l.digest)).toEqual([target]);
      expect(blobGets).toBe(2);
      expect(ranges[0]).toEqual(['', 200]);
      expect(ranges[1]?.[0]).toMatch(/^bytes=\d+-$/);
      expect(ranges[1]?.[1]).toBe(206);
    });

    test('drops every time: E_REGISTRY, no partial blob, and the next build from the registry works', async () => {
      cutsLeft = 100;
      const cache = join(dir, 'cache-broken');
      const e = await fromImage(viaProxy(), cache).then(() => undefined, (x: unknown) => x);
      expect(isKeelError(e, 'E_REGISTRY')).toBe(true);
      expect((e as Error).message).toMatch(/broke off 4 times .*the next try resumes/);
      await storeHasNoPartials(cache, target);
      // what arrived waits in ingest/, not under a final name; the next build resumes it
      const kept = (await stat(join(cache, 'ingest', `${target.slice(7)}.partial`))).size;
      expect(kept).toBeGreaterThan(0);
      cutsLeft = 0;
      ranges.length = 0;
      const r = await fromImage(viaProxy(), cache);
      expect(r.layers.map((l) => l.digest)).toEqual([target]);
      expect(ranges[0]?.[0]).toMatch(/^bytes=\d+-$/);
    });
  });
});
