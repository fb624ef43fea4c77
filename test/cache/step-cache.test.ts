/**
 * The step cache on its own: a hit needs its blob in the store with the recorded size; a missing,
 * torn or foreign entry is a miss, never an error; recipes are kept per step for miss reasons.
 */
import { mkdtemp, rm, writeFile, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobStore } from '../../src/cache/blob-store';
import { StepCache } from '../../src/cache/step-cache';
import { sha256 } from '../../src/image/digest';

let dir: string;
let store: BlobStore;
let cache: StepCache;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-step-cache-'));
  store = new BlobStore(dir);
  cache = new StepCache(dir, store);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const key = sha256('a step');

async function storedLayer() {
  const blob = await store.put(Readable.from([Buffer.from('layer bytes')]));
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blob.digest, diffId: sha256('diff'), size: blob.size };
}

test('a stored step comes back; another key is a miss', async () => {
  const layer = await storedLayer();
  await cache.put(key, { layer });
  expect(await cache.get(key)).toEqual({ layer });
  expect(await cache.get(sha256('another step'))).toBeUndefined();
});

test('a step that made no layer is a hit with layer null', async () => {
  await cache.put(key, { layer: null });
  expect(await cache.get(key)).toEqual({ layer: null });
});

test('a hit whose blob is gone, or of another size, is a miss', async () => {
  const layer = await storedLayer();
  await cache.put(key, { layer });
  await truncate(store.path(layer.digest), 3);
  expect(await cache.get(key)).toBeUndefined();
  await rm(store.path(layer.digest));
  expect(await cache.get(key)).toBeUndefined();
});

test.each([
  ['torn JSON', '{"layer": {"mediaType"'],
  ['not a record', '{"something": 1}'],
  ['a digest that is not one', '{"layer": {"mediaType": "x", "digest": "sha256:zz", "diffId": "sha256:zz", "size": 1}}'],
])('an entry with %s is a miss', async (_name, text) => {
  await cache.put(key, { layer: null });
  await writeFile(join(dir, 'steps', `${key.slice(7)}.json`), text);
  expect(await cache.get(key)).toBeUndefined();
});

test('the last recipe of a step is kept by the step\'s name', async () => {
  expect(await cache.lastRecipe('Dockerfile#0:3')).toBeUndefined();
  await cache.saveRecipe('Dockerfile#0:3', { version: 1, entries: [] });
  expect(await cache.lastRecipe('Dockerfile#0:3')).toEqual({ version: 1, entries: [] });
  expect(await cache.lastRecipe('Dockerfile#0:4')).toBeUndefined();
});
