/**
 * A secret's value (RUN --mount=type=secret, as a file and as an environment variable) appears in
 * nothing keel writes or says: no layer, config, history, cache file, layer folder, scratch file,
 * progress event, CLI line or error, for a build that succeeds and for one whose RUN fails. The
 * test greps every byte under the cache folder (compressed blobs decompressed) and the outputs.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decompress as unzstd } from 'fzstd';
import { build, type BuildEvent } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

/** Every regular file below `dir`, with its bytes (gzip and zstd blobs decompressed too). */
async function everyByte(dir: string): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isDirectory()) await walk(p);
      else if (st.isFile()) {
        const bytes = await readFile(p);
        out.push([p, bytes]);
        if (bytes[0] === 0x1f && bytes[1] === 0x8b) out.push([`${p} (gunzipped)`, gunzipSync(bytes)]);
        if (bytes.length >= 4 && bytes.readUInt32LE(0) === 0xfd2fb528) out.push([`${p} (zstd)`, Buffer.from(unzstd(bytes))]);
      }
    }
  };
  await walk(dir);
  return out;
}

describeIntegration('secrets leave no trace', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-secrets-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx'));
    await writeFile(join(dir, 'secret.txt'), secret);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const withSecrets = [
    'FROM base',
    // the file mount and the variable are used, never printed
    'RUN --mount=type=secret,id=tok sh -c "test -s /run/secrets/tok && wc -c < /run/secrets/tok > /file-length"',
    'RUN --mount=type=secret,id=tok,env=TOKEN sh -c "echo ${#TOKEN} > /env-length"',
    'RUN --mount=type=secret,id=tok,target=/etc/tok,env=ALSO sh -c "test -n \\"$ALSO\\" && cp /etc/tok /tmp/x && rm /tmp/x && echo done"',
  ].join('\n');

  test('a build that uses a secret three ways: nowhere in the cache, the archive, the events or the CLI\'s output', async () => {
    const cacheDir = join(dir, 'cache');
    const events: BuildEvent[] = [];
    const r = await build({
      context: join(dir, 'ctx'), dockerfile: { text: withSecrets }, baseImages: { base }, cacheDir,
      secrets: { tok: { path: join(dir, 'secret.txt') } }, output: { type: 'oci-archive', path: join(dir, 'out.tar') },
      onProgress: (e) => events.push(e),
    });
    expect(r.layers.length).toBeGreaterThan(1); // the RUNs made their files
    await writeFile(join(dir, 'Dockerfile.secrets'), withSecrets);
    const cli = spawnSync(process.execPath, [join(__dirname, '..', '..', 'dist', 'cli', 'main.js'), 'build', '--progress', 'plain', '--no-cache',
      '--secret', 'id=tok,env=KEEL_TEST_SECRET', '--base-image', `base=${base}`, '--cache-dir', cacheDir, '-o', join(dir, 'cli.tar'),
      '-f', join(dir, 'Dockerfile.secrets'), join(dir, 'ctx')], { encoding: 'utf8', env: { ...process.env, KEEL_TEST_SECRET: secret } });
    expect(cli.status).toBe(0);
    expect(cli.stderr).toMatch(/#\d+ done/); // the RUN's output is shown
    const places: Array<[string, Buffer]> = [
      ...(await everyByte(cacheDir)),
      ['out.tar', await readFile(join(dir, 'out.tar'))],
      ['cli.tar', await readFile(join(dir, 'cli.tar'))],
      ['events', Buffer.from(JSON.stringify(events))],
      ['result', Buffer.from(JSON.stringify({ ...r, image: { ...r.image, configBlob: r.image.configBlob.bytes.toString(), manifestBlob: r.image.manifestBlob.bytes.toString() } }))],
      ['cli stdout', Buffer.from(cli.stdout)],
      ['cli stderr', Buffer.from(cli.stderr)],
    ];
    // the archives' layers, decompressed
    for (const tar of ['out.tar', 'cli.tar']) {
      const extracted = await mkdtemp(join(dir, 'x-'));
      spawnSync('tar', ['-xf', join(dir, tar), '-C', extracted]);
      places.push(...(await everyByte(extracted)));
    }
    expect(places.length).toBeGreaterThan(20);
    expect(places.filter(([, bytes]) => bytes.includes(secret)).map(([p]) => p)).toEqual([]);
    // the scratch folder where the secret's file was is gone
    expect(await readdir(join(cacheDir, 'run')).catch(() => [])).toEqual([]);
  }, 60_000);

  test('a RUN that fails with a secret in its environment: not in the error, the events or the cache', async () => {
    const cacheDir = join(dir, 'cache-fail');
    const events: BuildEvent[] = [];
    const err = await build({
      context: join(dir, 'ctx'), dockerfile: { text: 'FROM base\nRUN --mount=type=secret,id=tok,env=TOKEN sh -c "test -z \\"$TOKEN\\""\n' },
      baseImages: { base }, cacheDir, secrets: { tok: { value: secret } }, onProgress: (e) => events.push(e),
    }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('E_RUN');
    const text = `${(err as Error).message} ${String((err as Error).stack)} ${JSON.stringify(events)}`;
    expect(text.includes(secret)).toBe(false);
    expect((await everyByte(cacheDir)).filter(([, b]) => b.includes(secret)).map(([p]) => p)).toEqual([]);
  }, 60_000);
});
