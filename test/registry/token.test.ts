/**
 * The Bearer token flow against a registry with `auth: token` (scripts/test-env.sh): the registry
 * checks each token's RS256 signature against a certificate made for the test run, and this test
 * serves the token realm, signing with the matching key and granting only what the scope asks and
 * the credentials allow. So the flow is real: a wrong token would be refused by the registry.
 */
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { TOKEN_CERT, TOKEN_KEY, TOKEN_REALM, TOKEN_REGISTRY, describeIntegration } from '../support/integration';

const USER = 'token-user';
const PASSWORD = 'token-password-123';
const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

describeIntegration('Bearer token flow', ['token-registry'], () => {
  let issuer: Server;
  let dir: string;
  const requests: Array<{ scope: string; service: string; authorized: boolean }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-token-'));
    const key = readFileSync(TOKEN_KEY, 'utf8');
    const certDer = new X509Certificate(readFileSync(TOKEN_CERT)).raw;
    const realm = new URL(TOKEN_REALM);
    issuer = createServer((req, res) => {
      const url = new URL(req.url ?? '/', TOKEN_REALM);
      const scope = url.searchParams.get('scope') ?? '';
      const service = url.searchParams.get('service') ?? '';
      const basic = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString() : '';
      const authorized = basic === `${USER}:${PASSWORD}`;
      requests.push({ scope, service, authorized });
      if (basic !== '' && !authorized) {
        res.writeHead(401);
        res.end();
        return;
      }
      const [type, name, actions] = scope.split(':');
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
      const claims = {
        iss: 'keel-test-issuer', sub: authorized ? USER : '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'),
        access: authorized && type === 'repository' ? [{ type, name, actions: (actions ?? '').split(',') }] : [],
      };
      const body = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
      const signature = createSign('RSA-SHA256').update(body).sign(key);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: `${body}.${b64url(signature)}`, expires_in: 300 }));
    });
    await new Promise<void>((r) => issuer.listen(Number(realm.port), realm.hostname, r));
  });
  afterAll(async () => {
    await new Promise<void>((r) => issuer.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  test('push and pull with tokens for the right scope; a wrong password and no credentials are E_AUTH', async () => {
    const ctx = join(dir, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /a\n');
    await writeFile(join(ctx, 'a'), 'token');
    const image = `${TOKEN_REGISTRY}/keel-test/tok:1`;
    const auth = { [TOKEN_REGISTRY as string]: { username: USER, password: PASSWORD } };
    const pushed = await build({ context: ctx, cacheDir: join(dir, 'c'), tags: [image], output: { type: 'registry' }, auth, dockerConfigDir: join(dir, 'none') });
    expect(pushed.pushed?.[0]?.digest).toBe(pushed.manifestDigest);
    // the registry names the actions in either order (Go map order): "pull,push" or "push,pull"
    const pushScope = (scope: string): boolean => /^repository:keel-test\/tok:(pull,push|push,pull)$/.test(scope);
    expect(requests.some((r) => pushScope(r.scope) && r.service === 'keel-test-registry' && r.authorized)).toBe(true);

    const child = join(dir, 'child');
    await mkdir(child, { recursive: true });
    await writeFile(join(child, 'Dockerfile'), `FROM ${image}\nLABEL via=token\n`);
    const pulled = await build({ context: child, cacheDir: join(dir, 'c2'), auth, dockerConfigDir: join(dir, 'none') });
    expect(pulled.layers.map((l) => l.diffId)).toEqual(pushed.layers.map((l) => l.diffId));
    expect(requests.some((r) => r.scope === 'repository:keel-test/tok:pull' && r.authorized)).toBe(true);

    const wrong = await build({ context: child, cacheDir: join(dir, 'c3'), auth: { [TOKEN_REGISTRY as string]: { username: USER, password: 'wrong-pw-456' } }, dockerConfigDir: join(dir, 'none') })
      .then(() => undefined, (e: unknown) => e);
    expect(isKeelError(wrong, 'E_AUTH')).toBe(true);
    expect((wrong as Error).message).not.toContain('wrong-pw-456');
    const anonymous = await build({ context: child, cacheDir: join(dir, 'c4'), dockerConfigDir: join(dir, 'none') }).then(() => undefined, (e: unknown) => e);
    expect(isKeelError(anonymous, 'E_AUTH')).toBe(true);
  });
  test('a step cache exported to and imported from a token registry; without credentials, warnings and a correct build', async () => {
    const ctx = join(dir, 'cache-ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /a\nCOPY b /b\n');
    await writeFile(join(ctx, 'a'), 'token cache a');
    await writeFile(join(ctx, 'b'), 'token cache b');
    const ref = `${TOKEN_REGISTRY as string}/keel-test/tok-cache:buildcache`;
    const auth = { [TOKEN_REGISTRY as string]: { username: USER, password: PASSWORD } };
    const common = { context: ctx, dockerConfigDir: join(dir, 'none'), cacheMaxSize: false as const };
    const a = await build({ ...common, cacheDir: join(dir, 'cache-a'), auth, cacheTo: { type: 'registry', ref, mode: 'max' } });
    expect(a.warnings).toEqual([]);
    const b = await build({ ...common, cacheDir: join(dir, 'cache-b'), auth, cacheFrom: { type: 'registry', ref }, output: { type: 'oci-archive', path: join(dir, 'b.tar') } });
    expect([b.warnings, b.manifestDigest, b.layers.map((l) => l.cached)]).toEqual([[], a.manifestDigest, [true, true]]);
    const anonymous = await build({ ...common, cacheDir: join(dir, 'cache-c'), cacheFrom: { type: 'registry', ref }, cacheTo: { type: 'registry', ref } });
    expect(anonymous.manifestDigest).toBe(a.manifestDigest);
    expect(anonymous.warnings).toEqual([expect.stringMatching(/^cache .* ignored: /), expect.stringMatching(/^the cache could not be exported to /)]);
    expect(anonymous.warnings.join(' ')).not.toContain(PASSWORD);
  });
});
