/**
 * copyInto below build(): what COPY selects and where it lands, as BuildKit copies (a folder's
 * contents, wildcards matching nothing, several sources into a folder, links kept as links,
 * owners and modes), on trees made in the test.
 */
import { copyInto, type CopyRequest } from '../../src/builder/copy';
import { StageFs, type FsNode } from '../../src/tree/stage-fs';

const dir = (uid = 0): FsNode => ({ type: 'directory', mode: 0o700, uid, gid: uid, mtime: 100 });
const file = (body: string, uid = 0): FsNode => ({ type: 'file', mode: 0o640, uid, gid: uid, mtime: 100, size: body.length, source: { kind: 'bytes', data: Buffer.from(body) } });
const link = (target: string): FsNode => ({ type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 100, target });

function context(): StageFs {
  const fs = new StageFs();
  fs.set('src', dir(5));
  fs.set('src/a.js', file('a', 5));
  fs.set('src/b.js', file('b', 5));
  fs.set('src/lib', dir(5));
  fs.set('src/lib/c.js', file('c', 5));
  fs.set('src/link', link('a.js'));
  fs.set('README', file('readme', 5));
  return fs;
}

const request = (over: Partial<CopyRequest>): CopyRequest => ({
  instruction: 'COPY', from: context(), fromContext: true, sources: [], dest: '/app/', workdir: '', exclude: [],
  mtime: (m) => m, createdMtime: 1, ...over,
});

function listing(fs: StageFs): string[] {
  return fs.paths().map((p) => {
    const n = fs.get(p) as FsNode;
    return `${p} ${n.type} ${n.mode.toString(8)} ${n.uid}:${n.gid}${n.type === 'symlink' ? ` -> ${n.target}` : ''}`;
  });
}

test('a folder source copies its contents; links stay links; the context\'s owners become 0:0', () => {
  const target = new StageFs();
  const written = copyInto(target, request({ sources: ['src'] }));
  expect(listing(target)).toEqual([
    'app directory 755 0:0',
    'app/a.js file 640 0:0',
    'app/b.js file 640 0:0',
    'app/lib directory 700 0:0',
    'app/lib/c.js file 640 0:0',
    'app/link symlink 777 0:0 -> a.js',
  ]);
  expect(written).toEqual(target.paths());
});

test('from a stage (not the context), owners are kept; --chown and --chmod override them', () => {
  const kept = new StageFs();
  copyInto(kept, request({ fromContext: false, sources: ['README'], dest: '/r' }));
  expect(listing(kept)).toEqual(['r file 640 5:5']);
  const owned = new StageFs();
  copyInto(owned, request({ sources: ['README'], dest: '/r', owner: { uid: 7, gid: 8 }, chmod: 0o600 }));
  expect(listing(owned)).toEqual(['r file 600 7:8']);
});

test('a wildcard that matches nothing copies nothing; a missing literal source is E_SOURCE_NOT_FOUND', () => {
  expect(copyInto(new StageFs(), request({ sources: ['*.none'] }))).toEqual([]);
  expect(() => copyInto(new StageFs(), request({ sources: ['missing'] }))).toThrow(expect.objectContaining({ code: 'E_SOURCE_NOT_FOUND' }));
});

test('a wildcard does not cross folders (Go filepath.Match)', () => {
  const target = new StageFs();
  copyInto(target, request({ sources: ['src/*.js'] }));
  expect(target.paths()).toEqual(['app', 'app/a.js', 'app/b.js']);
});

test('several sources need a destination folder ending in /', () => {
  expect(() => copyInto(new StageFs(), request({ sources: ['README', 'src/a.js'], dest: '/app' }))).toThrow(expect.objectContaining({ code: 'E_BUILD_INPUT', message: expect.stringMatching(/must be a directory and end with a \//) }));
});

test('a relative destination is under WORKDIR; a source climbing out of the context is refused', () => {
  const target = new StageFs();
  copyInto(target, request({ sources: ['README'], dest: 'docs/', workdir: 'srv' }));
  expect(target.paths()).toEqual(['srv', 'srv/docs', 'srv/docs/README']);
  expect(() => copyInto(new StageFs(), request({ sources: ['../etc/passwd'] }))).toThrow(expect.objectContaining({ code: 'E_CONTEXT_ESCAPE' }));
});

test('--exclude leaves matching paths out', () => {
  const target = new StageFs();
  copyInto(target, request({ sources: ['src'], exclude: ['lib'] }));
  expect(target.paths()).toEqual(['app', 'app/a.js', 'app/b.js', 'app/link']);
});
