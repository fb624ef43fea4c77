/** The stat cache: an unchanged file is never read again, even by many concurrent callers. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileHasher } from '../../src/cache/file-hasher';
import { sha256 } from '../../src/image/digest';

test('a warm table answers concurrent callers without reading files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keel-hasher-'));
  try {
    const files = Array.from({ length: 200 }, (_, i) => join(dir, `f${i}`));
    await Promise.all(files.map((f, i) => writeFile(f, `content ${i}`)));
    const first = new FileHasher(join(dir, 'cache'));
    const hashes = await Promise.all(files.map((f) => first.hash(f, `fp-${f}`)));
    expect(hashes[3]).toBe(sha256('content 3').slice(7));
    await first.save();
    // the files are gone: any read would fail, so every answer must come from the saved table
    await Promise.all(files.map((f) => rm(f)));
    const second = new FileHasher(join(dir, 'cache'));
    expect(await Promise.all(files.map((f) => second.hash(f, `fp-${f}`)))).toEqual(hashes);
    // a changed fingerprint is read again
    await expect(second.hash(files[0] as string, 'fp-new')).rejects.toMatchObject({ code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
