/**
 * Read an image archive (keel's OCI + docker-save tar, or `docker save` output) and flatten its
 * layers into a file tree, applying whiteouts, so that two images can be compared entry by entry
 * (SPEC.md section 8: path, type, mode, uid, gid, size, content hash, link target) and by config.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { decompress as zstdDecompress } from 'fzstd';

export interface TreeEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  linkname?: string;
}

export interface FlatImage {
  config: Record<string, unknown>;
  tree: Record<string, TreeEntry>;
  /** Seconds since the epoch, per path (kept apart: docker keeps source mtimes, keel normalises them). */
  mtimes: Record<string, number>;
}

async function untar(buf: Buffer): Promise<Array<{ name: string; type: string; mode: number; uid: number; gid: number; linkname: string | null; mtime: number; data: Buffer }>> {
  const out: Array<{ name: string; type: string; mode: number; uid: number; gid: number; linkname: string | null; mtime: number; data: Buffer }> = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        parts.push(c as Buffer);
      });
      stream.on('end', () => {
        out.push({ name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, linkname: h.linkname ?? null, mtime: (h.mtime?.getTime() ?? 0) / 1000, data: Buffer.concat(parts) });
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(buf);
  await done;
  return out;
}

const clean = (name: string): string => name.replace(/^\.?\/+/, '').replace(/\/+$/, '');

export async function flattenArchive(path: string): Promise<FlatImage> {
  const files = new Map((await untar(await readFile(path))).map((e) => [clean(e.name), e.data]));
  const manifest = JSON.parse((files.get('manifest.json') as Buffer).toString()) as Array<{ Config: string; Layers: string[] }>;
  const m = manifest[0] as { Config: string; Layers: string[] };
  const config = JSON.parse((files.get(clean(m.Config)) as Buffer).toString()) as Record<string, unknown>;
  const tree: Record<string, TreeEntry> = {};
  const mtimes: Record<string, number> = {};
  for (const layerPath of m.Layers) {
    let data = files.get(clean(layerPath)) as Buffer;
    if (data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
    else if (data.length >= 4 && data.readUInt32LE(0) === 0xfd2fb528) data = Buffer.from(zstdDecompress(data));
    for (const e of await untar(data)) {
      const name = clean(e.name);
      const base = name.slice(name.lastIndexOf('/') + 1);
      const dir = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
      if (base === '.wh..wh..opq') {
        for (const k of Object.keys(tree)) if (k.startsWith(dir === '' ? '' : `${dir}/`) && k !== dir) delete tree[k];
        continue;
      }
      if (base.startsWith('.wh.')) {
        const gone = (dir === '' ? '' : `${dir}/`) + base.slice(4);
        for (const k of Object.keys(tree)) if (k === gone || k.startsWith(`${gone}/`)) delete tree[k];
        continue;
      }
      if (name === '') continue;
      mtimes[name] = e.mtime;
      tree[name] = {
        type: e.type,
        mode: e.mode & 0o7777,
        uid: e.uid,
        gid: e.gid,
        size: e.type === 'file' ? e.data.length : 0,
        ...(e.type === 'file' ? { sha256: createHash('sha256').update(e.data).digest('hex') } : {}),
        ...(e.linkname ? { linkname: e.linkname } : {}),
      };
    }
  }
  return { config, tree, mtimes };
}

/** The config fields SPEC.md section 8 compares. */
export function comparableConfig(config: Record<string, unknown>): Record<string, unknown> {
  const c = (config.config ?? {}) as Record<string, unknown>;
  const pick = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild'];
  const out: Record<string, unknown> = {};
  for (const k of pick) {
    const v = c[k];
    // absent, null and empty mean the same thing in a config
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)) continue;
    out[k] = v;
  }
  out.os = config.os;
  out.architecture = config.architecture;
  return out;
}
