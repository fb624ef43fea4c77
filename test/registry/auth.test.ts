/**
 * Credentials against a registry behind htpasswd Basic auth (scripts/test-env.sh): the auth option,
 * Docker's config.json, a credential helper; refusals name the registry and where the credential
 * came from, never the secret.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { AUTH_PASSWORD, AUTH_REGISTRY, AUTH_USER, describeIntegration } from '../support/integration';

describeIntegration('registry credentials', ['auth-registry'], () => {
  let dir: string;
  let ctx: string;
  const image = () => `${AUTH_REGISTRY}/keel-test/private:1`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-auth-'));
    ctx = join(dir, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /a\n');
    await writeFile(join(ctx, 'a'), 'private');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const pushWith = (extra: object) =>
    build({ context: ctx, cacheDir: join(dir, 'cache'), tags: [image()], output: { type: 'registry' }, dockerConfigDir: join(dir, 'no-config'), ...extra });

  test('the auth option pushes; config.json auths and a credential helper pull', async () => {
    const pushed = await pushWith({ auth: { [AUTH_REGISTRY as string]: { username: AUTH_USER, password: AUTH_PASSWORD } } });
    expect(pushed.pushed?.[0]?.digest).toBe(pushed.manifestDigest);

    const child = join(dir, 'child');
    await mkdir(child, { recursive: true });
    await writeFile(join(child, 'Dockerfile'), `FROM ${image()}\nLABEL from=private\n`);
    const configDir = join(dir, 'docker-config');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { [AUTH_REGISTRY as string]: { auth: Buffer.from(`${AUTH_USER}:${AUTH_PASSWORD}`).toString('base64') } } }));
    const viaConfig = await build({ context: child, cacheDir: join(dir, 'cache-2'), dockerConfigDir: configDir });
    expect(viaConfig.layers.map((l) => l.diffId)).toEqual(pushed.layers.map((l) => l.diffId));

    // a helper: docker-credential-keeltest on PATH, named by credHelpers
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'docker-credential-keeltest'), `#!/bin/sh\nread server\necho '{"ServerURL":"'$server'","Username":"${AUTH_USER}","Secret":"${AUTH_PASSWORD}"}'\n`);
    await chmod(join(bin, 'docker-credential-keeltest'), 0o755);
    const helperDir = join(dir, 'helper-config');
    await mkdir(helperDir, { recursive: true });
    await writeFile(join(helperDir, 'config.json'), JSON.stringify({ credHelpers: { [AUTH_REGISTRY as string]: 'keeltest' } }));
    // the CLI in a process of its own, as a user runs it: the helper is found on PATH, the config via DOCKER_CONFIG
    const cli = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [cli, 'build', '-q', '--cache-dir', join(dir, 'cache-3'), child], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, DOCKER_CONFIG: helperDir },
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(viaConfig.configDigest);
  });

  test('wrong or missing credentials are E_AUTH, naming the registry and the source but never the secret', async () => {
    const wrong = await pushWith({ auth: { [AUTH_REGISTRY as string]: { username: AUTH_USER, password: 'not-the-password-xyz' } } }).then(() => undefined, (e: unknown) => e);
    expect(isKeelError(wrong, 'E_AUTH')).toBe(true);
    expect((wrong as Error).message).toContain(AUTH_REGISTRY);
    expect((wrong as Error).message).toContain('the auth option');
    expect((wrong as Error).message).not.toContain('not-the-password-xyz');
    const none = await pushWith({}).then(() => undefined, (e: unknown) => e);
    expect(isKeelError(none, 'E_AUTH')).toBe(true);
    expect((none as Error).message).toMatch(/no credentials were found/);
  });
});
