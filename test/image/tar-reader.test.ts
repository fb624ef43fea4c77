/**
 * keel's tar reader against tar-stream (what keel read with before) and GNU tar: the same entries,
 * headers and bodies; PAX values kept as bytes (an extended attribute with bytes above 0x7f comes
 * back exactly, which tar-stream's UTF-8 decoding corrupts); a truncated or damaged archive an
 * E_BUILD_INPUT error.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { extract, pack, type Header } from 'tar-stream';
import { isKeelError } from '../../src';
import { readTar } from '../../src/image/tar-reader';

interface Seen { name: string; type: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string | null; dev: string; body: string }

async function viaTarStream(tar: Buffer): Promise<Seen[]> {
  const out: Seen[] = [];
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: unknown) => parts.push(c as Buffer));
    stream.on('end', () => {
      out.push({ name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, size: h.size ?? 0, mtime: h.mtime?.getTime() ?? 0, linkname: h.linkname ?? null, dev: `${h.devmajor ?? 0}:${h.devminor ?? 0}`, body: createHash('sha256').update(Buffer.concat(parts)).digest('hex') });
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
    ex.end(tar);
  });
  return out;
}

async function viaReader(tar: Buffer, chunk = 4096): Promise<Seen[]> {
  const out: Seen[] = [];
  const pieces = Array.from({ length: Math.ceil(tar.length / chunk) }, (_, i) => tar.subarray(i * chunk, (i + 1) * chunk));
  for await (const { header: h, body } of readTar(Readable.from(pieces))) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c as Buffer);
    out.push({ name: h.name, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, size: h.size, mtime: h.mtime.getTime(), linkname: h.linkname, dev: `${h.devmajor}:${h.devminor}`, body: createHash('sha256').update(Buffer.concat(parts)).digest('hex') });
  }
  return out;
}

type Entry = Partial<Header> & { name: string; body?: Buffer };

async function packed(entries: readonly Entry[]): Promise<Buffer> {
  const p = pack();
  const parts: Buffer[] = [];
  p.on('data', (c: unknown) => parts.push(c as Buffer));
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const { body, ...h } of entries) {
    if (body === undefined) p.entry(h);
    else p.entry(h, body);
  }
  p.finalize();
  await done;
  return Buffer.concat(parts);
}

const nameArb = fc.array(fc.constantFrom('a', 'bb', 'é', '😀', 'x'.repeat(60), 'dir', '.wh.x', 'ünï', ' sp'), { minLength: 1, maxLength: 5 }).map((p) => p.join('/'));
const entryArb: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ name: nameArb, body: fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b)), mode: fc.integer({ min: 0, max: 0o7777 }), uid: fc.integer({ min: 0, max: 5_000_000 }), gid: fc.integer({ min: 0, max: 70_000 }), mtime: fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((s) => new Date(s * 1000)) /* tar-stream writes later times as garbage */ })
    .map((e): Entry => ({ ...e, type: 'file', size: e.body.length })),
  fc.record({ name: nameArb, mode: fc.constant(0o755) }).map((e): Entry => ({ ...e, type: 'directory' })),
  fc.record({ name: nameArb, linkname: nameArb }).map((e): Entry => ({ ...e, type: 'symlink' })),
  fc.record({ name: nameArb, linkname: nameArb }).map((e): Entry => ({ ...e, type: 'link' })),
  fc.record({ name: nameArb, devmajor: fc.integer({ min: 0, max: 255 }), devminor: fc.integer({ min: 0, max: 255 }) }).map((e): Entry => ({ ...e, type: 'character-device' })),
);

test('the same entries as tar-stream, for archives tar-stream writes (long names, large ids, every type), read in any chunking', async () => {
  await fc.assert(fc.asyncProperty(fc.array(entryArb, { maxLength: 12 }), fc.integer({ min: 1, max: 5000 }), async (entries, chunk) => {
    const tar = await packed(entries);
    expect(await viaReader(tar, chunk)).toEqual(await viaTarStream(tar));
  }), { numRuns: 300 });
});

describe('archives GNU tar writes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-tar-reader-'));
    const root = join(dir, 'root');
    const deep = join(root, 'x'.repeat(90), 'y'.repeat(90));
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, `${'z'.repeat(120)}.txt`), 'long\n');
    await writeFile(join(root, 'cap'), 'binary attribute\n');
    // a value with bytes above 0x7f, as a file capability has
    execFileSync('setfattr', ['-n', 'user.keel', '-v', '0x01ff80fe00c3', join(root, 'cap')]);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test.each(['gnu', 'posix', 'ustar'])('--format=%s: the same entries as tar-stream', async (format) => {
    const file = join(dir, `${format}.tar`);
    if (format === 'ustar') execFileSync('tar', ['--format=ustar', '-C', join(dir, 'root'), '-cf', file, 'cap']);
    else execFileSync('tar', [`--format=${format}`, '-C', join(dir, 'root'), '-cf', file, '.']);
    const tar = execFileSync('cat', [file], { maxBuffer: 1 << 26 });
    expect(await viaReader(tar)).toEqual(await viaTarStream(tar));
  });

  test('a PAX extended attribute comes back as its bytes', async () => {
    const file = join(dir, 'xattrs.tar');
    execFileSync('tar', ['--format=posix', '--xattrs', '--xattrs-include=user.*', '-C', join(dir, 'root'), '-cf', file, 'cap']);
    const entries: Array<[string, Buffer | undefined]> = [];
    for await (const { header } of readTar(Readable.from([execFileSync('cat', [file])]))) entries.push([header.name, header.paxBytes.get('SCHILY.xattr.user.keel')]);
    expect(entries.map(([n, v]) => [n, v?.toString('hex')])).toEqual([['cap', '01ff80fe00c3']]);
  });
});

test.each([
  ['a header with a bad checksum', async () => { const t = await packed([{ name: 'a', type: 'file', size: 1, body: Buffer.from('x') }]); t[0] = 0x41; return t; }, /bad checksum/],
  ['a body cut short', async () => (await packed([{ name: 'a', type: 'file', size: 5000, body: Buffer.alloc(5000) }])).subarray(0, 2000), /unexpected end of data in "a"/],
  ['a header cut short', async () => (await packed([{ name: 'a', type: 'file', size: 1, body: Buffer.from('x') }])).subarray(0, 300), /unexpected end of data in a header/],
  ['a size that is not a number', async () => { const t = await packed([{ name: 'a', type: 'file', size: 1, body: Buffer.from('x') }]); t.write('zz', 124); const sum = [...t.subarray(0, 512)].reduce((a, b, i) => a + (i >= 148 && i < 156 ? 32 : b), 0); t.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148); return t; }, /a size is not a number/],
])('%s is E_BUILD_INPUT', async (_name, make, message) => {
  const tar = await make();
  const err = await viaReader(tar).catch((e: unknown) => e);
  expect(isKeelError(err, 'E_BUILD_INPUT')).toBe(true);
  expect((err as Error).message).toMatch(message);
});

test('a body left unread is skipped, whether the caller started reading it or not', async () => {
  const tar = await packed([
    { name: 'a', type: 'file', size: 100_000, body: Buffer.alloc(100_000, 1) },
    { name: 'b', type: 'file', size: 3, body: Buffer.from('bbb') },
    { name: 'c', type: 'file', size: 70_000, body: Buffer.alloc(70_000, 2) },
  ]);
  const names: string[] = [];
  for await (const { header, body } of readTar(Readable.from([tar.subarray(0, 1000), tar.subarray(1000)]))) {
    names.push(header.name);
    if (header.name === 'c') body.resume(); // started, then left
  }
  expect(names).toEqual(['a', 'b', 'c']);
});

test('bytes() gives what the body stream gives, at any chunking; a truncated body is an error either way', async () => {
  const bodies = [Buffer.alloc(100_000, 1), Buffer.from('bbb'), Buffer.alloc(0), Buffer.alloc(70_000, 2)];
  const tar = await packed(bodies.map((body, i) => ({ name: `f${i}`, type: 'file' as const, size: body.length, body })));
  for (const chunk of [1, 511, 4096, tar.length]) {
    const pieces: Buffer[] = [];
    for (let at = 0; at < tar.length; at += chunk) pieces.push(tar.subarray(at, at + chunk));
    const got: Buffer[] = [];
    for await (const entry of readTar(Readable.from(pieces))) got.push(await entry.bytes());
    expect(got.map((b) => b.toString('hex'))).toEqual(bodies.map((b) => b.toString('hex')));
  }
  const cut = tar.subarray(0, 512 + 50_000); // the first body ends half way
  const err = await (async () => {
    for await (const entry of readTar(Readable.from([cut]))) await entry.bytes();
  })().catch((e: unknown) => e);
  expect(isKeelError(err, 'E_BUILD_INPUT')).toBe(true);
});

// issue 24: one PAX global header of many records was copied into every later entry
test('PAX global headers: a few records are kept for every entry; over 64 is a clear error', async () => {
  const tarOf = async (records: number): Promise<Buffer> => {
    const p = pack();
    const parts: Buffer[] = [];
    p.on('data', (c: unknown) => parts.push(c as Buffer));
    const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
    // the records as a 'g' entry's body ("LEN key=value\n", LEN counting itself)
    const record = (k: string, v: string): string => {
      const rest = ` ${k}=${v}\n`;
      let n = rest.length + 1;
      while (`${n}${rest}`.length !== n) n++;
      return `${n}${rest}`;
    };
    const body = Array.from({ length: records }, (_, i) => record(`keel.r${i}`, 'v')).join('');
    p.entry({ name: 'pax_global_header', mode: 0o644 }, body);
    p.entry({ name: 'a.txt', mode: 0o644 }, 'a');
    p.finalize();
    await done;
    // tar-stream writes no 'g' entries: the first header made one, its checksum made again
    const tar = Buffer.concat(parts);
    tar[156] = 'g'.charCodeAt(0);
    tar.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += tar[i] as number;
    tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return tar;
  };
  expect((await viaReader(await tarOf(3))).map((s) => s.name)).toEqual(['a.txt']);
  const err = await viaReader(await tarOf(65)).catch((e: unknown) => e);
  expect([isKeelError(err), (err as Error).message]).toEqual([true, expect.stringMatching(/over 64 records/)]);
});
