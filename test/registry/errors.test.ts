/** RegistryError: the registry's answer as data (status, the error body's codes, whether to try again). */
import { parseDiagnostics, RegistryError } from '../../src/registry/errors';
import { isKeelError } from '../../src';
import { RegistryClient } from '../../src/registry/client';
import { describeIntegration, REGISTRY } from '../support/integration';

test('the distribution spec\'s error body becomes diagnostics; anything else none', () => {
  expect(parseDiagnostics('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"},{"code":"NAME_UNKNOWN"}]}')).toEqual([
    { code: 'DENIED', message: 'requested access to the resource is denied' },
    { code: 'NAME_UNKNOWN', message: '' },
  ]);
  expect(parseDiagnostics('<html>502 Bad Gateway</html>')).toEqual([]);
  expect(parseDiagnostics('{"errors":"no"}')).toEqual([]);
});

test.each([
  [undefined, [], true],
  [503, [], true],
  [429, [], true],
  [400, [{ code: 'TOOMANYREQUESTS', message: '' }], true],
  [404, [{ code: 'MANIFEST_UNKNOWN', message: '' }], false],
  [401, [{ code: 'UNAUTHORIZED', message: '' }], false],
])('status %s with %j: temporary %s', (status, diagnostics, temporary) => {
  expect(new RegistryError('E_REGISTRY', 'x', status, diagnostics).temporary).toBe(temporary);
});

test('a RegistryError is a KeelError with its code', () => {
  const e = new RegistryError('E_NOT_FOUND', 'manifest 1 not found', 404, [{ code: 'MANIFEST_UNKNOWN', message: '' }]);
  expect(isKeelError(e, 'E_NOT_FOUND')).toBe(true);
  expect(e).toMatchObject({ name: 'RegistryError', status: 404 });
});

describeIntegration('RegistryError from a real registry', ['registry'], () => {
  test('a tag the registry does not have: 404 with MANIFEST_UNKNOWN, not temporary', async () => {
    const client = new RegistryClient(REGISTRY as string, 'keel-test/never-pushed');
    const err = await client.manifest('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ code: 'E_NOT_FOUND', status: 404, temporary: false });
    expect((err as RegistryError).diagnostics.map((d) => d.code)).toContain('MANIFEST_UNKNOWN');
  });
  test('a registry that does not answer: no status, temporary', async () => {
    const client = new RegistryClient('127.0.0.1:9', 'x/y', { attempts: 1 });
    const err = await client.manifest('1').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_REGISTRY', status: undefined, temporary: true });
  });
});
