/**
 * URL credentials never reach a step's name, an event or an error (issue 24): `ADD
 * https://user:token@host/f` shows the URL without its user:token, as the history does.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildEvent } from '../../src';
import { redactUrlCredentials } from '../../src/builder/download';

test.each([
  ['ADD https://user:s3cret@example.com/f /f', 'ADD https://example.com/f /f'],
  ['ADD --checksum=sha256:00 http://tok@h:8080/a http://u:p@h/b /d/', 'ADD --checksum=sha256:00 http://h:8080/a http://h/b /d/'],
  ['RUN echo user@example.com', 'RUN echo user@example.com'],
  ['ADD git@github.com:a/b.git /src', 'ADD git@github.com:a/b.git /src'],
])('%s', (text, shown) => {
  expect(redactUrlCredentials(text)).toBe(shown);
});

test('a failing ADD of a URL with credentials: neither its events nor its error hold them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keel-redact-'));
  try {
    const events: BuildEvent[] = [];
    const err = await build({
      context: dir, dockerfile: { text: 'FROM scratch\nADD http://keel-user:s3cret-token@127.0.0.1:1/f /f\n' }, cacheDir: join(dir, 'cache'), onProgress: (e) => events.push(e),
    }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const seen = JSON.stringify(events) + String((err as Error).message) + String((err as Error).stack);
    expect(seen).toContain('127.0.0.1:1/f');
    expect(seen).not.toContain('s3cret-token');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
