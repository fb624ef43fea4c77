/**
 * zstd in bounded memory (issue 24): a frame asking for a window over 128 MiB is refused before the
 * decoder allocates it, and a stream that inflates a thousandfold is decoded at the reader's pace.
 * The streams are made by zstd's own CLI (Debian's zstd), several frames and a skippable one among them.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isKeelError } from '../../src';
import { decompress } from '../../src/tree/decompress';
import { MAX_ZSTD_WINDOW, ZstdFrames } from '../../src/tree/zstd-frames';

const zstdCli = (input: Buffer, args: readonly string[] = ['-q', '-c']): Buffer => execFileSync('zstd', [...args], { input, maxBuffer: 1 << 30 });
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function drain(r: Readable, slow = false): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) {
    parts.push(c as Buffer);
    if (slow) await new Promise((res) => setImmediate(res));
  }
  return Buffer.concat(parts);
}

/** A frame header alone: magic, a descriptor without single segment, this window descriptor byte. */
const header = (windowDescriptor: number): Buffer => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, windowDescriptor]);

test('frames made by zstd (two frames, a skippable one between, a checksum) decode to their bytes, in pieces of any size', async () => {
  const a = Buffer.from('first frame '.repeat(5000));
  const b = Buffer.alloc(300_000, 7);
  const skippable = Buffer.concat([Buffer.from([0x5e, 0x2a, 0x4d, 0x18]), Buffer.from([5, 0, 0, 0]), Buffer.from('skip!')]);
  const stream = Buffer.concat([zstdCli(a, ['-q', '-c', '--check']), skippable, zstdCli(b)]);
  for (const size of [1, 7, 4096, stream.length]) {
    const pieces = Array.from({ length: Math.ceil(stream.length / size) }, (_, i) => stream.subarray(i * size, (i + 1) * size));
    expect(sha(await drain(decompress(Readable.from(pieces), 'zstd')))).toBe(sha(Buffer.concat([a, b])));
  }
});

test.each([
  ['2 GiB (windowLog 31)', 0xa8, true],
  ['256 MiB (windowLog 28)', 0x90, true],
  ['128 MiB (windowLog 27), zstd\'s default limit', 0x88, false],
])('a frame asking for a %s window', (_name, wd, refused) => {
  const frames = new ZstdFrames();
  const scan = (): unknown => {
    try {
      frames.scan(header(wd));
      return undefined;
    } catch (e) {
      return e;
    }
  };
  const e = scan();
  expect(isKeelError(e, 'E_BUILD_INPUT')).toBe(refused);
  if (refused) expect((e as Error).message).toMatch(new RegExp(`over the ${MAX_ZSTD_WINDOW / 2 ** 20} MiB`));
});

test('a 2 GiB window from a few bytes is refused before anything is allocated', async () => {
  const before = process.memoryUsage().arrayBuffers;
  const bomb = Buffer.concat([header(0xa8), Buffer.from([0x01, 0x00, 0x00])]);
  const err = await drain(decompress(Readable.from([bomb]), 'zstd')).catch((e: unknown) => e);
  expect(isKeelError(err, 'E_BUILD_INPUT')).toBe(true);
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
});

async function readSlowly(stream: Buffer): Promise<{ total: number; peak: number; error?: unknown }> {
  let peak = 0;
  let total = 0;
  const base = process.memoryUsage().rss;
  try {
    for await (const c of decompress(Readable.from([stream]), 'zstd')) {
      total += (c as Buffer).length;
      if (total % (16 << 20) < (c as Buffer).length) {
        peak = Math.max(peak, process.memoryUsage().rss - base);
        await new Promise((res) => setTimeout(res, 1));
      }
    }
  } catch (error) {
    return { total, peak, error };
  }
  return { total, peak };
}

test('240 MiB of zeros from a few KiB of zstd, read slowly: all of it, in bounded memory', async () => {
  const stream = execFileSync('sh', ['-c', 'head -c 251658240 /dev/zero | zstd -q -c -3'], { maxBuffer: 1 << 28 });
  expect(stream.length).toBeLessThan(1 << 20);
  const r = await readSlowly(stream);
  expect([r.total, r.error]).toEqual([240 * 2 ** 20, undefined]);
  expect(r.peak).toBeLessThan(160 * 2 ** 20);
}, 60_000);

test('1 GiB of zeros from 30 KiB: the bomb guard stops it, memory bounded all the way', async () => {
  const stream = execFileSync('sh', ['-c', 'head -c 1073741824 /dev/zero | zstd -q -c -3'], { maxBuffer: 1 << 28 });
  const r = await readSlowly(stream);
  expect(isKeelError(r.error, 'E_BUILD_INPUT')).toBe(true);
  expect(r.peak).toBeLessThan(160 * 2 ** 20);
}, 60_000);
