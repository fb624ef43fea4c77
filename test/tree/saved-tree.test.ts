/**
 * A tree saved whole and read back lazily (snapshot.ts): a StageFs over it answers every question
 * as the tree it was saved from, and after any changes as a plain copy given the same changes; a
 * damaged file, or one whose bodies' folder is gone, is not used.
 */
import fc from 'fast-check';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSavedTree, serializeTree, StageFs, type FsNode } from '../../src/tree';

const meta = { uid: 0, gid: 0, mtime: 0 };
const dir = (mode = 0o755): FsNode => ({ type: 'directory', mode, ...meta });
const file = (n: number): FsNode => ({ type: 'file', mode: 0o644, ...meta, size: n, source: { kind: 'host', path: `/bodies/${n}`, fingerprint: `f${n}` } });
const link = (target: string): FsNode => ({ type: 'symlink', mode: 0o777, ...meta, target });

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'keel-saved-tree-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

/** A tree from a list of paths: each path's parents made folders, the path itself `node`. */
function treeOf(entries: ReadonlyArray<readonly [string, FsNode]>): StageFs {
  const fs = new StageFs();
  for (const [path, node] of entries) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (fs.get(p)?.type !== 'directory') fs.set(p, dir());
    }
    if (fs.get(path)?.type !== 'directory') fs.set(path, node);
  }
  return fs;
}

async function saved(fs: StageFs, bodies: string[] = [work]): Promise<StageFs> {
  const path = join(work, `tree-${Math.random().toString(16).slice(2)}`);
  await writeFile(path, serializeTree(fs, bodies) as Buffer);
  const read = await readSavedTree(path);
  if (read === undefined) throw new Error('not read back');
  return read.fs;
}

const name = fc.constantFrom('a', 'b', 'c', 'etc', 'usr', 'x y', 'é');
const path = fc.array(name, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
const node: fc.Arbitrary<FsNode> = fc.oneof(
  fc.nat(1000).map(file),
  fc.constantFrom(0o700, 0o755).map(dir),
  path.map((p) => link(`/${p}`)),
);
type Op = { kind: 'set'; path: string; node: FsNode } | { kind: 'delete' | 'deleteTree'; path: string };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), path, node }),
  fc.record({ kind: fc.constantFrom('delete' as const, 'deleteTree' as const), path }),
);

/** Everything a reader can ask of a tree, for the paths given. */
function answers(fs: StageFs, probes: readonly string[]): unknown {
  return {
    paths: fs.paths(),
    nodes: fs.paths().map((p) => [p, fs.get(p)]),
    root: fs.get(''),
    probes: probes.map((p) => [fs.get(p), fs.descendants(p), (() => { try { return fs.resolve(p, true); } catch (e) { return (e as Error).message; } })()]),
  };
}

test('a saved tree, and a changed copy of it, answer as the plain tree given the same changes', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(path, node), { maxLength: 30 }), fc.array(op, { maxLength: 12 }), fc.array(path, { maxLength: 6 }),
    async (entries, ops, probes) => {
      const plain = treeOf(entries);
      const lazy = await saved(plain);
      expect(answers(lazy, probes)).toEqual(answers(plain, probes));
      const a = plain.clone();
      const b = lazy.clone();
      for (const o of ops) {
        for (const t of [a, b]) {
          if (o.kind === 'set') t.set(o.path, o.node);
          else if (o.kind === 'delete') t.delete(o.path);
          else t.deleteTree(o.path);
        }
      }
      expect(answers(b, probes)).toEqual(answers(a, probes));
      expect(answers(lazy, probes)).toEqual(answers(plain, probes)); // the saved tree itself is unchanged
    },
  ), { numRuns: 300 });
}, 30_000);

test('a damaged file, another format, or bodies whose folder is gone: not used', async () => {
  const fs = treeOf([['etc/passwd', file(1)], ['usr/bin/sh', file(2)]]);
  const good = join(work, 'good');
  const bytes = serializeTree(fs, [work]) as Buffer;
  await writeFile(good, bytes);
  expect((await readSavedTree(good))?.fs.get('usr/bin/sh')).toEqual(file(2));

  const flipped = Buffer.from(bytes);
  flipped.writeUInt8((flipped.at(-5) as number) ^ 0x20, flipped.length - 5); // a byte of the records
  await writeFile(join(work, 'flipped'), flipped);
  expect(await readSavedTree(join(work, 'flipped'))).toBeUndefined();

  await writeFile(join(work, 'other'), `keel-tree 9\n${(await readFile(good)).toString('utf8').split('\n').slice(1).join('\n')}`);
  expect(await readSavedTree(join(work, 'other'))).toBeUndefined();
  expect(await readSavedTree(join(work, 'missing'))).toBeUndefined();

  const bodies = join(work, 'bodies');
  await mkdir(bodies);
  await writeFile(join(work, 'pruned'), serializeTree(fs, [bodies]) as Buffer);
  expect(await readSavedTree(join(work, 'pruned'))).toBeDefined();
  await rm(bodies, { recursive: true });
  expect(await readSavedTree(join(work, 'pruned'))).toBeUndefined();
});

test('a tree holding a body in memory is not saved', () => {
  const fs = new StageFs();
  fs.set('f', { type: 'file', mode: 0o644, ...meta, size: 1, source: { kind: 'bytes', data: Buffer.from('x') } });
  expect(serializeTree(fs, [])).toBeUndefined();
});
