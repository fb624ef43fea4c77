/**
 * Decompression bombs (issue 10): an ADD archive that unpacks to far more than it is stops with
 * E_BUILD_INPUT, in bounded time and memory, whatever its compression; maxUnpackBytes bounds any
 * archive. bzip2 goes through the system's bzip2 (the test command installs it).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, isKeelError } from '../../src';
import { tarOf } from '../support/tar-fixtures';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keel-bombs-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A ustar header of a regular file `name` of `size` bytes. */
function header(name: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0);
  b.write('0000644 \0', 100);
  b.write('0000000 \0', 108);
  b.write('0000000 \0', 116);
  b.write(`${size.toString(8).padStart(11, '0')} `, 124);
  b.write('00000000000 ', 136);
  b.write('0', 156);
  b.write('ustar\x0000', 257);
  b.fill(' ', 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return b;
}

test('a bzip2 bomb (a 16 GiB file in a 1 MiB archive) stops early, in bounded memory', async () => {
  // concatenated bzip2 streams: the header and 64 MiB of zeros, then 255 more of 64 MiB of zeros
  const zeros = execFileSync('bzip2', ['-9c'], { input: Buffer.alloc(64 << 20), maxBuffer: 1 << 24 });
  const first = execFileSync('bzip2', ['-9c'], { input: Buffer.concat([header('zeros', 16 * 2 ** 30), Buffer.alloc(64 << 20)]), maxBuffer: 1 << 24 });
  const ctx = join(dir, 'bz');
  await mkdir(ctx);
  await writeFile(join(ctx, 'bomb.tar.bz2'), Buffer.concat([first, ...Array.from({ length: 255 }, () => zeros)]));
  await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nADD bomb.tar.bz2 /x/\n');
  const rss = process.memoryUsage().rss;
  const t0 = Date.now();
  const err = await build({ context: ctx, cacheDir: join(dir, 'cache') }).catch((e: unknown) => e);
  expect(isKeelError(err, 'E_BUILD_INPUT')).toBe(true);
  expect((err as Error).message).toMatch(/over 2000 times its size .*a decompression bomb/);
  expect(Date.now() - t0).toBeLessThan(60_000);
  expect(process.memoryUsage().rss - rss).toBeLessThan(512 << 20);
}, 120_000);

test('maxUnpackBytes bounds what an archive may unpack to', async () => {
  const ctx = join(dir, 'gz');
  await mkdir(ctx);
  await writeFile(join(ctx, 'a.tar.gz'), gzipSync(await tarOf([{ name: 'big', body: randomBytes(3 << 20).toString('base64') }])));
  await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nADD a.tar.gz /x/\n');
  const err = await build({ context: ctx, cacheDir: join(dir, 'cache'), maxUnpackBytes: 1 << 20 }).catch((e: unknown) => e);
  expect(isKeelError(err, 'E_BUILD_INPUT')).toBe(true);
  expect((err as Error).message).toMatch(/unpacks to more than 1048576 bytes \(maxUnpackBytes\)/);
  await expect(build({ context: ctx, cacheDir: join(dir, 'cache'), maxUnpackBytes: 16 << 20 })).resolves.toMatchObject({ layers: [expect.anything()] });
  await expect(build({ context: ctx, cacheDir: join(dir, 'cache'), maxUnpackBytes: 0 })).rejects.toThrow(expect.objectContaining({ code: 'E_BUILD_INPUT' }));
});
