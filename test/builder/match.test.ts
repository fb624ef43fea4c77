/** Go filepath.Match and moby/patternmatcher semantics (reference/builders-semantics.md 6.4). */
import { goMatch, GoPatternError } from '../../src/builder/go-match';
import { PatternMatcher, readIgnoreFile } from '../../src/builder/ignore';

describe('goMatch (Go filepath.Match)', () => {
  test.each([
    ['*.txt', 'a.txt', true],
    ['*.txt', 'dir/a.txt', false],
    ['*', 'a/b', false],
    ['dir/*', 'dir/a', true],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['[abc]x', 'bx', true],
    ['[^abc]x', 'bx', false],
    ['[a-c]x', 'cx', true],
    ['[[]x', '[x', true],
    ['\\*x', '*x', true],
    ['\\*x', 'ax', false],
    ['*b*', 'abc', true],
    ['a*b', 'a/b', false],
    ['héllo*', 'héllo wörld', true],
    ['', '', true],
  ])('%s ~ %s', (pattern, name, expected) => {
    expect(goMatch(pattern, name)).toBe(expected);
  });

  test.each(['[', '[a-', 'a\\', '[]', 'x*[a'])('%s is a bad pattern', (pattern) => {
    expect(() => goMatch(pattern, 'zzz')).toThrow(GoPatternError);
  });
});

/** A tree, the .dockerignore text, and which paths of the tree stay in the context. */
const table: Array<[string, string, string[], string[]]> = [
  ['*.md excludes the root file only', '*.md', ['README.md', 'docs/a.md'], ['docs/a.md']],
  ['**/*.md excludes at any depth', '**/*.md', ['README.md', 'docs/a.md'], []],
  ['node_modules is the root one only', 'node_modules', ['node_modules/x', 'pkg/node_modules/y'], ['pkg/node_modules/y']],
  ['foo/ also matches a file foo', 'foo/', ['foo', 'bar'], ['bar']],
  ['/secret is secret', '/secret', ['secret', 'other'], ['other']],
  ['foo/** excludes the contents but not foo', 'foo/**', ['foo', 'foo/a', 'foo/b/c'], ['foo']],
  ['foo/* excludes deeper paths by parent', 'foo/*', ['foo/a/b'], []],
  ['* then !README.md', '*\n!README.md', ['README.md', 'a.txt', 'src/x'], ['README.md']],
  ['docs then !docs/keep.md', 'docs\n!docs/keep.md', ['docs/keep.md', 'docs/other.md'], ['docs/keep.md']],
  ['* then !**/*.py keeps python files at any depth', '*\n!**/*.py', ['a.py', 'sub/b.py', 'sub/c.txt'], ['a.py', 'sub/b.py']],
  ['!docs/keep.md then docs: last match wins', '!docs/keep.md\ndocs', ['docs/keep.md'], []],
  [' # comment is a pattern', ' # comment', ['# comment', 'x'], ['x']],
  ['# comment is a comment', '# x\n', ['# x', 'x'], ['# x', 'x']],
  ['\\*literal matches a literal star', '\\*literal', ['*literal', 'aliteral'], ['aliteral']],
  ['** excludes everything', '**', ['a', 'b/c'], []],
  ['Dockerfile and .dockerignore can be ignored', 'Dockerfile\n.dockerignore', ['Dockerfile', '.dockerignore', 'a'], ['a']],
];

describe('.dockerignore (moby/patternmatcher)', () => {
  test.each(table)('%s', (_name, ignore, tree, kept) => {
    const m = new PatternMatcher(readIgnoreFile(ignore));
    expect(tree.filter((p) => !m.matches(p))).toEqual(kept);
  });

  test('a BOM, CRLF and surrounding blanks are read away', () => {
    expect(readIgnoreFile('\ufeff a \r\n!  /b/ \r\n\r\n')).toEqual(['a', '!b']);
  });

  test('a bare ! is illegal, and a malformed pattern is reported', () => {
    expect(() => new PatternMatcher(['!'])).toThrow('illegal exclusion pattern: "!"');
    expect(() => new PatternMatcher(['[a-'])).toThrow(/bad ignore pattern/);
  });
});
