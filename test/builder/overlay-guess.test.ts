/**
 * The guess a build starts work on while it probes overlayfs (snapshot/layer-folders.ts likely):
 * the last probe's answer on this cache. A wrong guess (overlayfs said usable last time, not now)
 * costs layer folders nothing uses, never the result: the RUN goes on the written-out copy and
 * makes the layer the overlay path makes, and the next build guesses from the new answer.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../src';
import { buildOn } from '../../src/builder/build';
import { readHost } from '../../src/builder/host';
import { busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

describeIntegration('the overlayfs guess', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-overlay-guess-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('a stale "usable" guess where overlayfs does not mount: the copy path, the same image, the guess corrected', async () => {
    const text = 'FROM base\nRUN mkdir /out && echo hi > /out/x\n';
    const host = readHost();
    // overlayfs refuses an option it does not know: this build's probe fails
    const noOverlay = { ...host, sandbox: { ...host.sandbox, overlayOptions: ['keel-no-such-option'] } };
    const cacheDir = join(dir, 'guessed');
    const hint = join(cacheDir, `${host.sandbox.layersFolder}.overlay-probe`);
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await writeFile(hint, 'yes');
    const guessed = await buildOn(noOverlay, { context: join(dir, 'ctx'), dockerfile: { text }, baseImages: { base }, cacheDir });
    expect(await readFile(hint, 'utf8')).toBe('no');
    // the guess's cost: the base's folder, made while the probe ran, used by nothing
    expect(await readdir(join(cacheDir, host.sandbox.layersFolder))).toContain((guessed.layers[0] as { diffId: string }).diffId.slice(7));
    const plain = await build({ context: join(dir, 'ctx'), dockerfile: { text }, baseImages: { base }, cacheDir: join(dir, 'plain') });
    expect(await readFile(join(dir, 'plain', `${host.sandbox.layersFolder}.overlay-probe`), 'utf8')).toBe('yes');
    expect(guessed.manifestDigest).toBe(plain.manifestDigest);
  }, 60_000);

  test('a fully cached build never probes overlayfs; the first step the cache lacks does', async () => {
    const host = readHost();
    const cacheDir = join(dir, 'warm');
    const hint = join(cacheDir, `${host.sandbox.layersFolder}.overlay-probe`);
    const opts = { context: join(dir, 'ctx'), baseImages: { base }, cacheDir };
    await build({ ...opts, dockerfile: { text: 'FROM base\nRUN echo a > /a\n' } });
    expect(await readFile(hint, 'utf8')).toBe('yes');
    // a probe would write its answer over this
    await writeFile(hint, 'no');
    const warm = await build({ ...opts, dockerfile: { text: 'FROM base\nRUN echo a > /a\n' } });
    expect(warm.steps.filter((s) => !s.cached && !s.name.includes('FROM')).map((s) => s.name)).toEqual([]);
    expect(await readFile(hint, 'utf8')).toBe('no');
    await build({ ...opts, dockerfile: { text: 'FROM base\nRUN echo a > /a\nRUN echo b > /b\n' } });
    expect(await readFile(hint, 'utf8')).toBe('yes');
  }, 60_000);
});
