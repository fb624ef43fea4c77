/**
 * A step after a RUN that needs the stage's tree (COPY, WORKDIR on a miss) takes it from the
 * delta the RUN saved, with the bodies in the RUN's layer folder (issue 12): no second copy of
 * what the RUN wrote, and the same image as when the tree comes from unpacking the RUN's layer.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

describeIntegration('tree deltas of RUN layers', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-tree-deltas-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx'));
    await writeFile(join(dir, 'ctx', 'a.txt'), 'a');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const runs = [
    'FROM base',
    // a folder of its own mode, files, a tree the next RUN removes, a file replaced by a folder
    'RUN mkdir -m 0700 /made && echo hi > /made/f && mkdir -p /old/sub && echo x > /old/sub/y && echo z > /was-file',
    'RUN rm -rf /old && rm /was-file && mkdir -m 0750 /was-file',
  ];
  const full = [
    ...runs,
    'COPY a.txt /made/',
    'COPY a.txt /old/sub/',
    'COPY a.txt /was-file/',
    'WORKDIR /made/w',
    // the listing without its time columns: the RUNs' own files and `..` (the root a RUN writes to) have the times they were made at
    "RUN ls -la /made /old /was-file | sed -E 's/^([^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+) +[^ ]+ +[^ ]+ +[^ ]+ /\\1 /' > /listing",
  ];
  const once = (lines: readonly string[], cache: string) =>
    build({ context: join(dir, 'ctx'), dockerfile: { text: `${lines.join('\n')}\n` }, baseImages: { base }, cacheDir: join(dir, cache) });
  /** The files kept in the extract folder of a layer (by diffID): bodies, and `.tree-*.json` deltas (and `.snapshot-*` saved trees, neither). */
  const extracted = async (cache: string, diffId: string): Promise<{ bodies: string[]; deltas: string[] }> => {
    const names = await readdir(join(dir, cache, 'extract', diffId.slice(7))).catch(() => [] as string[]);
    return { bodies: names.filter((n) => !n.startsWith('.')), deltas: names.filter((n) => n.startsWith('.tree-')) };
  };

  test('the steps after the RUNs read their deltas: no bodies unpacked, and the image of the unpacked path', async () => {
    const a = await once(full, 'cache-a');
    const runLayers = a.layers.slice(1, 3).map((l) => l.diffId);
    for (const diffId of runLayers) {
      const kept = await extracted('cache-a', diffId);
      expect(kept.deltas.length).toBe(1);
      expect(kept.bodies).toEqual([]); // the RUN's files are read from its layer folder
    }

    // the same build where the tree comes from unpacking the RUN layers: their deltas removed first
    const runsOnly = await once(runs, 'cache-b');
    expect(runsOnly.layers.map((l) => l.diffId)).toEqual(a.layers.slice(0, 3).map((l) => l.diffId));
    for (const diffId of runLayers) await rm(join(dir, 'cache-b', 'extract', diffId.slice(7)), { recursive: true, force: true });
    const b = await once(full, 'cache-b');
    expect(b.steps.filter((s) => s.name.includes('RUN') && !s.name.includes('ls -la')).map((s) => s.cached)).toEqual([true, true]);
    expect((await extracted('cache-b', runLayers[0] as string)).bodies.length).toBeGreaterThan(0); // this path did unpack
    expect(b.manifestDigest).toBe(a.manifestDigest);
  }, 120_000);

  test('a chain topped by a big RUN is saved whole and read back lazily by the next build: the image of a build without it', async () => {
    const lines = [
      'FROM base',
      'RUN mkdir -p /many/sub && chmod 0751 /many/sub && cd /many && i=0 && while [ $i -lt 1100 ]; do i=$((i+1)); echo $i > f$i; done',
      'COPY a.txt /many/sub/',
    ];
    await writeFile(join(dir, 'ctx', 'a.txt'), 'first');
    const first = await once(lines, 'cache-s');
    const runHex = (first.layers[1] as { diffId: string }).diffId.slice(7);
    const kept = await readdir(join(dir, 'cache-s', 'extract', runHex));
    expect(kept.filter((n) => n.startsWith('.snapshot-'))).toHaveLength(1);
    // only the saved tree is left to give the next build the RUN's tree (else it would unpack the layer)
    for (const n of kept.filter((n) => n.startsWith('.tree-'))) await rm(join(dir, 'cache-s', 'extract', runHex, n));

    await writeFile(join(dir, 'ctx', 'a.txt'), 'second');
    const lazy = await once(lines, 'cache-s');
    expect(lazy.steps.map((s) => s.cached)).toEqual([false, true, false]);
    expect((await extracted('cache-s', `sha256:${runHex}`)).bodies).toEqual([]);
    const plain = await once(lines, 'cache-t');
    expect(lazy.manifestDigest).toBe(plain.manifestDigest);
    await writeFile(join(dir, 'ctx', 'a.txt'), 'a');
  }, 120_000);
});
