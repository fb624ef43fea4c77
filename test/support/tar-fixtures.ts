/** Build small tar archives in tests (for ADD and hostile-archive cases). */
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

export type TarFixtureEntry =
  | { name: string; type?: 'file'; body: string; mode?: number; uid?: number; gid?: number }
  | { name: string; type: 'directory'; mode?: number }
  | { name: string; type: 'symlink' | 'link'; linkname: string };

export async function tarOf(entries: readonly TarFixtureEntry[], gzip = false): Promise<Buffer> {
  const p = pack();
  const parts: Buffer[] = [];
  p.on('data', (c: unknown) => {
    parts.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) {
    const mtime = new Date(1_600_000_000_000);
    if (e.type === 'directory') p.entry({ name: e.name, type: 'directory', mode: e.mode ?? 0o755, mtime });
    else if (e.type === 'symlink' || e.type === 'link') p.entry({ name: e.name, type: e.type, linkname: e.linkname, mtime });
    else if ('body' in e) p.entry({ name: e.name, type: 'file', mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime }, e.body);
  }
  p.finalize();
  await done;
  const tar = Buffer.concat(parts);
  return gzip ? gzipSync(tar) : tar;
}

/** An archive of raw tar-stream headers (any type, PAX records included), each with an optional body; times default to 2020. */
export async function tarOfHeaders(entries: ReadonlyArray<Partial<Header> & { name: string; body?: string | Buffer }>): Promise<Buffer> {
  const p = pack();
  const parts: Buffer[] = [];
  p.on('data', (c: unknown) => {
    parts.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const { body, ...h } of entries) {
    const header = { ...h, mtime: h.mtime ?? new Date(1_600_000_000_000) };
    if (body === undefined) p.entry(header);
    else p.entry(header, body);
  }
  p.finalize();
  await done;
  return Buffer.concat(parts);
}
