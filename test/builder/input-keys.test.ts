/**
 * Cached steps found without the stage's tree (issue 12): a COPY is keyed by the layers below it,
 * its sources' content and its options, a WORKDIR by the layers below it and USER, so a build
 * whose steps are all cached never unpacks the base into a tree; a changed source still misses,
 * and the image is the same either way.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildEvent } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

describeIntegration('steps found without a tree', ['busybox'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-input-keys-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx', 'src'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(dir, 'ctx', 'src', `f${i}.js`), `// ${i}\n`);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const text = 'FROM base\nWORKDIR /app\nCOPY src ./src\nCOPY src/f1.js /single\nUSER app\nWORKDIR /app/work\nCOPY --chown=app <<EOF /app/note\nhello\nEOF\n';
  const once = async (cacheDir: string) => {
    const events: BuildEvent[] = [];
    const r = await build({ context: join(dir, 'ctx'), dockerfile: { text }, baseImages: { base }, cacheDir, onProgress: (e) => events.push(e) });
    return { r, cached: events.filter((e) => e.type === 'step-done' && / (WORKDIR|COPY) /.test(e.name)).map((e) => (e as { cached: boolean }).cached) };
  };

  test('an unchanged build is all hits and never unpacks the base into a tree; a changed file misses from there on', async () => {
    const cacheDir = join(dir, 'cache');
    const first = await once(cacheDir);
    expect(first.cached.every((c) => !c)).toBe(true);
    // what building a tree leaves: the base layer's bodies, extracted
    await rm(join(cacheDir, 'extract'), { recursive: true, force: true });
    const again = await once(cacheDir);
    expect(again.cached).toEqual(first.cached.map(() => true));
    expect(again.r.manifestDigest).toBe(first.r.manifestDigest);
    expect(await readdir(join(cacheDir, 'extract')).catch(() => [])).toEqual([]); // no tree was made
    // a source changes: its COPY misses (and needs the tree), the image changes, then is cached in turn
    await writeFile(join(dir, 'ctx', 'src', 'f3.js'), '// changed\n');
    const changed = await once(cacheDir);
    expect(changed.cached).toEqual([true, false, true, true, true]); // only the COPY of src/ read the change
    expect(changed.r.manifestDigest).not.toBe(first.r.manifestDigest);
    const fresh = await once(join(dir, 'fresh-cache'));
    expect(fresh.r.manifestDigest).toBe(changed.r.manifestDigest); // the same image a cache that saw nothing before makes
  });
});
