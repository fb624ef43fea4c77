import { formatReference, parseReference, parseTag, schemeFor } from '../../src/image/reference';

test.each([
  ['node', 'docker.io', 'library/node', 'latest', undefined],
  ['node:20', 'docker.io', 'library/node', '20', undefined],
  ['org/app:1', 'docker.io', 'org/app', '1', undefined],
  ['ghcr.io/org/sub/app:v1.2', 'ghcr.io', 'org/sub/app', 'v1.2', undefined],
  ['localhost:5000/app', 'localhost:5000', 'app', 'latest', undefined],
  ['127.0.0.1:5000/a/b@sha256:' + 'a'.repeat(64), '127.0.0.1:5000', 'a/b', undefined, 'sha256:' + 'a'.repeat(64)],
  ['index.docker.io/library/alpine:3', 'docker.io', 'library/alpine', '3', undefined],
])('%s', (ref, registry, repository, tag, digest) => {
  const r = parseReference(ref);
  expect([r.registry, r.repository, r.tag, r.digest]).toEqual([registry, repository, tag, digest]);
});

test.each(['', 'UPPER/case', 'a:b:c', 'app@sha256:short', 'a//b', '-x'])('%s is refused with E_REFERENCE', (ref) => {
  expect(() => parseReference(ref)).toThrow(expect.objectContaining({ code: 'E_REFERENCE' }));
});

test('loopback registries are plain HTTP, others HTTPS unless named insecure', () => {
  expect(schemeFor('127.0.0.1:5000')).toBe('http');
  expect(schemeFor('localhost:5000')).toBe('http');
  expect(schemeFor('ghcr.io')).toBe('https');
  // loopback by the address, not a prefix (issue 24): these are DNS names, spoken to over HTTPS
  expect(['127.evil.example:5000', '127.0.0.1.nip.io', '127.0.0.300', '1270.0.0.1'].map((r) => schemeFor(r))).toEqual(['https', 'https', 'https', 'https']);
  expect(['127.1.2.3:80', '[::1]:5000'].map((r) => schemeFor(r))).toEqual(['http', 'http']);
  expect(schemeFor('my.registry:5000', ['my.registry:5000'])).toBe('http');
  expect(formatReference(parseReference('node:20'))).toBe('docker.io/library/node:20');
});

describe('one parser for every reference (distribution/reference)', () => {
  test.each(['[::1]:5000/app:1', 'localhost:5000/a/b:c', 'my-registry.example.com/x'])('%s is a name to build and to pull', (ref) => {
    expect(() => parseReference(ref)).not.toThrow();
    expect(() => parseTag(ref)).not.toThrow();
  });
  test.each(['-bad-.io/x', 'bad-.io/x', 'a..b.io/x'])('%s is refused to build and to pull, with E_REFERENCE', (ref) => {
    expect(() => parseReference(ref)).toThrow(expect.objectContaining({ code: 'E_REFERENCE' }));
    expect(() => parseTag(ref)).toThrow(expect.objectContaining({ code: 'E_REFERENCE' }));
  });
  test('a tag gives the name as written and the full one', () => {
    expect(parseTag('[::1]:5000/app:1')).toEqual({ familiar: '[::1]:5000/app:1', full: '[::1]:5000/app:1', tag: '1' });
    expect(() => parseTag(`app@sha256:${'a'.repeat(64)}`)).toThrow(/a digest cannot be used as a tag/);
  });
});
