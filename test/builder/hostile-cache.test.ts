/**
 * A hostile shared cache (issue 24): a cache in the test registry whose layer claims the diffID of
 * another image's layer. A build that imports it may fail, but it names nothing on disk by the
 * claim, so a later build of the genuine image, without --cache-from, sees the genuine files.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { flattenArchive } from '../support/image-tree';
import { describeIntegration, REGISTRY } from '../support/integration';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describeIntegration('a hostile shared cache', ['registry', 'busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  const repo = `keel-test/hostile-cache-${process.pid}`;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-hostile-cache-'));
    base = await busyboxArchive(join(dir, 'bb'));
    await mkdir(join(dir, 'ctx'));
    await writeFile(join(dir, 'ctx', 'v.txt'), 'the victim image\n');
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('a layer claiming a popular diffID poisons no later build', async () => {
    const registry = REGISTRY as string;
    // the popular image: base + one COPY layer, pushed; its top layer's diffID is what the attacker claims
    const victimRef = `${registry}/${repo}:victim`;
    const victim = await build({ context: join(dir, 'ctx'), dockerfile: { text: 'FROM base\nCOPY v.txt /v.txt\n' }, baseImages: { base }, cacheDir: join(dir, 'publisher'), tags: [victimRef], output: { type: 'registry' } });
    const popular = victim.layers[victim.layers.length - 1]?.diffId as string;
    // the attacker's cache: a RUN planting a file, its layer then relabelled with the popular diffID
    const planting = 'FROM base\nRUN echo planted > /planted\n';
    await build({ context: join(dir, 'ctx'), dockerfile: { text: planting }, baseImages: { base }, cacheDir: join(dir, 'attacker'), cacheTo: { type: 'registry', ref: `${registry}/${repo}:cache`, mode: 'max' } });
    const manifest = JSON.parse(await (await fetch(`http://${registry}/v2/${repo}/manifests/cache`, { headers: { accept: MANIFEST } })).text()) as { layers: Array<{ annotations: Record<string, string> }> };
    for (const l of manifest.layers) l.annotations['io.keel.cache.diffid'] = popular;
    const put = await fetch(`http://${registry}/v2/${repo}/manifests/hostile`, { method: 'PUT', headers: { 'content-type': MANIFEST }, body: JSON.stringify(manifest) });
    expect(put.status).toBe(201);

    // the victim's machine imports it: the RUN hits the hostile record, the next RUN needs the layer's files
    const cacheDir = join(dir, 'victim-machine');
    const imported = await build({
      context: join(dir, 'ctx'), dockerfile: { text: `${planting}RUN ls / > /after\n` }, baseImages: { base }, cacheDir,
      cacheFrom: { type: 'registry', ref: `${registry}/${repo}:hostile` },
    }).then(() => undefined, (e: unknown) => e);
    expect(isKeelError(imported, 'E_DIGEST_MISMATCH')).toBe(true);
    expect((imported as Error).message).toMatch(new RegExp(`claims diffID ${popular}`));
    const named = async (folder: string): Promise<string[]> => readdir(join(cacheDir, folder)).catch(() => []);
    expect(await named('layers')).not.toContain(popular.slice(7));
    expect(await named('extract')).not.toContain(popular.slice(7));

    // later, on the same machine, without --cache-from: the genuine image, genuine files
    const out = join(dir, 'genuine.tar');
    await build({ context: join(dir, 'ctx'), dockerfile: { text: `FROM ${victimRef}\nRUN test ! -e /planted && cat /v.txt > /seen\n` }, cacheDir, output: { type: 'oci-archive', path: out } });
    const { tree } = await flattenArchive(out);
    expect(tree.planted).toBeUndefined();
    expect(tree.seen?.type).toBe('file');
    expect(await named('layers')).toContain(popular.slice(7)); // made from the genuine bytes
  }, 120_000);
});
