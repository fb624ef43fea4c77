/**
 * A tree saved whole, to be read back lazily, folder by folder: a StageFs over it (StageFs.over)
 * reads only the folders a step looks into. A build keeps one for each layer chain whose tree is
 * large (builder/tree-deltas.ts), so a COPY after a big base or a big RUN parses the few folders on
 * its destination path instead of every entry below it.
 *
 * The file: a line `keel-tree 1`, a line of JSON header, then the folders' records. The header has
 * the root's node, every folder's record as [folder, offset, length] into the records, the folders
 * that file bodies are in (each must still exist: a layer folder can be pruned), and the records'
 * CRC-32 (a damaged file is not used).
 */
import { stat, readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { baseName, parentOf, StageFs, type FsNode, type LowerTree } from './stage-fs.js';

const MAGIC = 'keel-tree 1\n';

interface Header {
  readonly root: FsNode | null;
  readonly folders: ReadonlyArray<readonly [string, number, number]>;
  readonly bodies: readonly string[];
  readonly crc: number;
}

/** A saved tree, read lazily. */
class SavedTree implements LowerTree {
  private readonly parsed = new Map<string, ReadonlyMap<string, FsNode>>();

  constructor(private readonly records: Buffer, private readonly at: ReadonlyMap<string, readonly [number, number]>, private readonly root: FsNode | undefined) {}

  get(path: string): FsNode | undefined {
    return path === '' ? this.root : this.folder(parentOf(path))?.get(baseName(path));
  }

  children(path: string): readonly string[] {
    return [...(this.folder(path)?.keys() ?? [])];
  }

  private folder(dir: string): ReadonlyMap<string, FsNode> | undefined {
    let found = this.parsed.get(dir);
    if (found === undefined) {
      const where = this.at.get(dir);
      if (where === undefined) return undefined;
      // checked whole when read (the CRC), so a record parses
      found = new Map(JSON.parse(this.records.subarray(where[0], where[0] + where[1]).toString('utf8')) as Array<[string, FsNode]>);
      this.parsed.set(dir, found);
    }
    return found;
  }
}

/**
 * The tree `fs` as bytes to save, or undefined when it cannot be saved (a file whose bytes are
 * held in memory, not on disk). `bodies`: the folders its files' bodies are in.
 */
export function serializeTree(fs: StageFs, bodies: readonly string[]): Buffer | undefined {
  const byFolder = new Map<string, Array<[string, FsNode]>>();
  for (const path of fs.paths()) {
    const node = fs.get(path) as FsNode;
    if (node.type === 'file' && node.source.kind !== 'host') return undefined;
    const dir = parentOf(path);
    let list = byFolder.get(dir);
    if (list === undefined) byFolder.set(dir, (list = []));
    list.push([baseName(path), node]);
  }
  const chunks: Buffer[] = [];
  const folders: Array<[string, number, number]> = [];
  let offset = 0;
  for (const [dir, list] of byFolder) {
    const chunk = Buffer.from(JSON.stringify(list));
    folders.push([dir, offset, chunk.length]);
    chunks.push(chunk);
    offset += chunk.length;
  }
  const records = Buffer.concat(chunks);
  const header: Header = { root: fs.get('') ?? null, folders, bodies: [...bodies], crc: crc32(records) };
  return Buffer.concat([Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`), records]);
}

/**
 * A saved tree as a StageFs to change (the saved one is never changed) and the folders of its
 * bodies, or undefined when there is none at `path`, it is damaged or of another version, or a
 * folder of its bodies is gone.
 */
export async function readSavedTree(path: string): Promise<{ readonly fs: StageFs; readonly bodies: readonly string[] } | undefined> {
  const data = await readFile(path).catch(() => undefined);
  if (data === undefined || data.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) return undefined;
  const end = data.indexOf(0x0a, MAGIC.length);
  if (end < 0) return undefined;
  let header: Header;
  try {
    header = JSON.parse(data.subarray(MAGIC.length, end).toString('utf8')) as Header;
  } catch {
    return undefined;
  }
  const records = data.subarray(end + 1);
  if (!Array.isArray(header.folders) || !Array.isArray(header.bodies) || crc32(records) !== header.crc) return undefined;
  for (const dir of header.bodies) if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) return undefined;
  const at = new Map(header.folders.map(([dir, offset, length]) => [dir, [offset, length] as const]));
  return { fs: StageFs.over(new SavedTree(records, at, header.root ?? undefined)), bodies: header.bodies };
}
