/**
 * Base images whose manifest or config lie (issue 10): a layer that claims another image's diffID
 * must poison nothing (no layer folder, no extracted body, no tree named by the claim), and a
 * descriptor whose size is not the blob's is refused, as containerd's unpacker refuses both.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { build, isKeelError } from '../../src';
import { busyboxRootfs } from '../support/busybox-base';
import { flattenArchive } from '../support/image-tree';
import { describeIntegration, REGISTRY, run } from '../support/integration';

interface Json { [k: string]: unknown }

/** The entries of a tar, bodies in memory. */
async function entries(tar: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: unknown) => parts.push(c as Buffer));
    stream.on('end', () => {
      if (h.type === 'file') out.set(h.name, Buffer.concat(parts));
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
    Readable.from([tar]).pipe(ex);
  });
  return out;
}

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * keel's OCI archive at `src`, its config and manifest edited, written to `dst` as an OCI layout
 * archive (new config and manifest blobs, index.json pointing at the new manifest).
 */
async function rewrite(src: string, dst: string, edit: (config: Json, manifest: Json) => void): Promise<void> {
  const files = await entries(await readFile(src));
  const index = JSON.parse((files.get('index.json') as Buffer).toString()) as { manifests: Array<{ digest: string; size: number }> };
  const blob = (d: string): Buffer => files.get(`blobs/sha256/${d.slice(7)}`) as Buffer;
  const manifest = JSON.parse(blob(index.manifests[0]?.digest as string).toString()) as Json & { config: { digest: string; size: number } };
  const config = JSON.parse(blob(manifest.config.digest).toString()) as Json;
  edit(config, manifest);
  const configBytes = Buffer.from(JSON.stringify(config));
  manifest.config = { ...manifest.config, digest: digestOf(configBytes), size: configBytes.length };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const out = new Map([...files].filter(([name]) => name.startsWith('blobs/') || name === 'oci-layout'));
  out.set(`blobs/sha256/${digestOf(configBytes).slice(7)}`, configBytes);
  out.set(`blobs/sha256/${digestOf(manifestBytes).slice(7)}`, manifestBytes);
  out.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(manifestBytes), size: manifestBytes.length }] })));
  const p = pack();
  const parts: Buffer[] = [];
  p.on('data', (c: unknown) => parts.push(c as Buffer));
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const [name, body] of out) p.entry({ name, mode: 0o644 }, body);
  p.finalize();
  await done;
  await writeFile(dst, Buffer.concat(parts));
}

describeIntegration('base images that lie', ['busybox', 'runc', 'registry', 'skopeo'], () => {
  let dir: string;
  let honest: string;
  let liar: string;
  let honestDiffId: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-hostile-base-'));
    // the honest base: busybox; the hostile one: the same plus /planted, claiming the honest diffID
    const rootfs = await busyboxRootfs(join(dir, 'rootfs'));
    honest = join(dir, 'honest.tar');
    const h = await build({ context: rootfs, dockerfile: { text: 'FROM scratch\nCOPY . /\nENV PATH=/bin\n' }, cacheDir: join(dir, 'make'), output: { type: 'oci-archive', path: honest } });
    honestDiffId = h.layers[0]?.diffId as string;
    await writeFile(join(rootfs, 'planted'), 'planted by the hostile image\n');
    const planted = join(dir, 'planted.tar');
    await build({ context: rootfs, dockerfile: { text: 'FROM scratch\nCOPY . /\nENV PATH=/bin\n' }, cacheDir: join(dir, 'make'), output: { type: 'oci-archive', path: planted } });
    liar = join(dir, 'liar.tar');
    await rewrite(planted, liar, (config) => {
      (config.rootfs as { diff_ids: string[] }).diff_ids = [honestDiffId];
    });
    await mkdir(join(dir, 'ctx'));
    await writeFile(join(dir, 'ctx', 'x'), 'x');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const attempt = (base: string, text: string, cacheDir: string, out?: string) =>
    build({ context: join(dir, 'ctx'), dockerfile: { text }, baseImages: { base }, cacheDir, ...(out === undefined ? {} : { output: { type: 'oci-archive' as const, path: out } }) }).then(() => undefined, (e: unknown) => e);

  test('a layer claiming another image\'s diffID is refused before it is used, whichever comes first', async () => {
    for (const [order, cacheDir] of [['liar first', join(dir, 'c1')], ['honest first', join(dir, 'c2')]] as const) {
      if (order === 'honest first') {
        expect(await attempt(honest, 'FROM base\nCOPY x /x\nRUN ls / > /listing\n', cacheDir)).toBeUndefined();
      }
      // the tree path (COPY) and the layer-folder path (RUN) both check first
      for (const text of ['FROM base\nCOPY x /x\n', 'FROM base\nRUN cat /planted\n']) {
        const err = await attempt(liar, text, cacheDir);
        expect([order, text, isKeelError(err, 'E_DIGEST_MISMATCH')]).toEqual([order, text, true]);
        expect((err as Error).message).toMatch(new RegExp(`claims diffID ${honestDiffId}, but its content is sha256:`));
      }
      // an honest build in the same cache sees no trace of the liar: not in COPY's tree, not in RUN's view
      const out = join(dir, `${order.replace(' ', '-')}.tar`);
      expect(await attempt(honest, 'FROM base\nCOPY x /x\nRUN ls / > /listing\n', cacheDir, out)).toBeUndefined();
      const { tree } = await flattenArchive(out);
      expect(tree.planted).toBeUndefined();
      expect(tree.listing?.type).toBe('file'); // RUN ran on the honest layers
    }
  }, 60_000);

  // issue 24: an image passed through unchanged kept the lie, and docker load then refused keel's output
  test('a base passed through unchanged (FROM + LABEL) whose diff_ids lie: refused before any output is written', async () => {
    const out = join(dir, 'passed-through.tar');
    const err = await attempt(liar, 'FROM base\nLABEL passed=through\n', join(dir, 'pass-cache'), out);
    expect(isKeelError(err, 'E_DIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`claims diffID ${honestDiffId}`));
    expect(await readdir(dir)).not.toContain('passed-through.tar');
    // the honest one passes through
    expect(await attempt(honest, 'FROM base\nLABEL passed=through\n', join(dir, 'pass-cache'), out)).toBeUndefined();
  }, 60_000);

  // issue 24: a diff_ids entry became a path (layers/<diffID>) before its check failed
  test('a config whose diff_ids is not a digest is refused before anything is made of it', async () => {
    const bad = join(dir, 'bad-diffid.tar');
    await rewrite(honest, bad, (config) => {
      (config.rootfs as { diff_ids: string[] }).diff_ids = ['sha256:../../../../escaped'];
    });
    const cacheDir = join(dir, 'bad-diffid-cache');
    const err = await attempt(bad, 'FROM base\nRUN true\n', cacheDir);
    expect([isKeelError(err), (err as Error).message]).toEqual([true, expect.stringMatching(/diff_ids\[0\] is not a digest/)]);
    expect(await readdir(join(cacheDir, 'layers')).catch(() => [])).toEqual([]);
    expect(await readdir(dir)).not.toContain('escaped');
  }, 60_000);

  test('pulled: a bottom layer unpacked while it downloads is named by its diffID only when its bytes are that diffID', async () => {
    // fresh caches pull from the registry, and a RUN makes keel unpack the base layer in the download's pass
    const name = (tag: string): string => `${REGISTRY}/keel-test/hostile-${process.pid}-${Date.now()}:${tag}`;
    const [liarRef, honestRef] = [name('liar'), name('honest')];
    run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${liar}`, `docker://${liarRef}`]);
    run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${honest}`, `docker://${honestRef}`]);
    const pulling = (ref: string, text: string, cacheDir: string, out?: string) =>
      build({ context: join(dir, 'ctx'), dockerfile: { text: `FROM ${ref}\n${text}` }, cacheDir, ...(out === undefined ? {} : { output: { type: 'oci-archive' as const, path: out } }) }).then(() => undefined, (e: unknown) => e);
    const cacheDir = join(dir, 'pulled');
    const err = await pulling(liarRef, 'RUN cat /planted\n', cacheDir);
    expect(isKeelError(err, 'E_DIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`claims diffID ${honestDiffId}, but its content is sha256:`));
    expect(await readdir(join(cacheDir, 'layers')).catch(() => [])).not.toContain(honestDiffId.slice(7));
    // the honest image in the same cache: its folder made while it downloaded, no trace of the liar
    const out = join(dir, 'pulled-honest.tar');
    expect(await pulling(honestRef, 'RUN ls / > /listing\n', cacheDir, out)).toBeUndefined();
    expect(await readdir(join(cacheDir, 'layers'))).toContain(honestDiffId.slice(7));
    const { tree } = await flattenArchive(out);
    expect(tree.planted).toBeUndefined();
    expect(tree.listing?.type).toBe('file');
    // and the same image as from the archive, where the layer is extracted from the store
    const fromArchive = join(dir, 'archive-honest.tar');
    expect(await attempt(honest, 'FROM base\nRUN ls / > /listing\n', join(dir, 'from-archive'), fromArchive)).toBeUndefined();
    expect((await flattenArchive(fromArchive)).tree).toEqual(tree);
  }, 60_000);

  test.each([10, 2 ** 53, -1])('a layer descriptor of size %s for another size of blob is refused', async (size) => {
    const lying = join(dir, `size-${size}.tar`);
    await rewrite(honest, lying, (_config, manifest) => {
      (manifest.layers as Array<{ size: number }>)[0] = { ...(manifest.layers as Array<{ size: number }>)[0], size } as { size: number };
    });
    const err = await attempt(lying, 'FROM base\nCOPY x /x\n', join(dir, `c-size-${size}`));
    expect(isKeelError(err, 'E_DIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toMatch(/bytes, but its manifest says/);
  });
});
