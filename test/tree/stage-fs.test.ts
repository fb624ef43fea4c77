/** The stage tree: symlinks resolved inside it only, clones independent, listings sorted. */
import { cleanPath, StageFs, type FsNode } from '../../src/tree/stage-fs';

const dir: FsNode = { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 };
const file = (body: string): FsNode => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: body.length, source: { kind: 'bytes', data: Buffer.from(body) } });
const link = (target: string): FsNode => ({ type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, target });

function tree(): StageFs {
  const fs = new StageFs();
  fs.set('etc', dir);
  fs.set('etc/passwd', file('root'));
  fs.set('app', dir);
  fs.set('app/abs', link('/etc'));
  fs.set('app/rel', link('../etc/passwd'));
  fs.set('app/out', link('../../../../etc'));
  fs.set('app/loop', link('loop'));
  return fs;
}

test.each([
  ['a path with no link', 'etc/passwd', true, 'etc/passwd'],
  ['an absolute link is taken from the tree root', 'app/abs/passwd', true, 'etc/passwd'],
  ['a relative link', 'app/rel', true, 'etc/passwd'],
  ['the last link kept when not followed', 'app/rel', false, 'app/rel'],
  ['a link climbing above the root stays at the root', 'app/out/passwd', true, 'etc/passwd'],
  ['a missing path resolves to where it would be', 'app/abs/new', true, 'etc/new'],
])('resolve: %s', (_name, path, follow, want) => {
  expect(tree().resolve(path, follow)).toBe(want);
});

test('a link loop is a clear error, not a hang', () => {
  expect(() => tree().resolve('app/loop/x', true)).toThrow(expect.objectContaining({ code: 'E_BUILD_INPUT', message: expect.stringMatching(/too many levels of symbolic links/) }));
});

test('a clone is independent of its original', () => {
  const a = tree();
  const b = a.clone();
  b.deleteTree('app');
  b.set('new', file('x'));
  expect(a.get('app/abs')).toBeDefined();
  expect(a.get('new')).toBeUndefined();
  expect(b.paths()).toEqual(['etc', 'etc/passwd', 'new']);
});

test('descendants are sorted and exclude the folder itself; the root is a folder even when unset', () => {
  expect(tree().descendants('app')).toEqual(['app/abs', 'app/loop', 'app/out', 'app/rel']);
  expect(new StageFs().get('')).toMatchObject({ type: 'directory' });
});

test.each([['../../x', '', 'x'], ['/a/./b/', '', 'a/b'], ['c', 'w/d', 'w/d/c'], ['..', 'w', '']])('cleanPath(%s, %s) = %s', (p, base, want) => {
  expect(cleanPath(p, base)).toBe(want);
});

test('readSmallFile follows links and reads only files', async () => {
  const fs = tree();
  expect((await fs.readSmallFile('app/abs/passwd'))?.toString()).toBe('root');
  expect(await fs.readSmallFile('app')).toBeUndefined();
});
