/**
 * What keel knows of a blob's uncompressed digest: `<cacheDir>/diffids/<digest hex>` holds the
 * diffID keel computed from the blob's own bytes (written atomically). A base image's config
 * only claims its layers' diffIDs, and layer folders, extracted bodies and RUN cache keys are named
 * by diffID, so a claim is checked once per cache before any of those is used (as containerd's
 * unpacker checks diffIDs while it unpacks).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hexOf, isDigest, type Digest } from '../image/index.js';
import { writeFileAtomic } from './atomic.js';

export class DiffIdRecord {
  private readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'diffids');
  }

  /** The diffID computed for `digest` before, if any (a torn or foreign file is none). */
  async get(digest: Digest): Promise<Digest | undefined> {
    const text = await readFile(join(this.dir, hexOf(digest)), 'utf8').catch(() => undefined);
    return text !== undefined && isDigest(text) ? text : undefined;
  }

  /** Record the diffID computed from the blob's bytes. */
  async put(digest: Digest, diffId: Digest): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(join(this.dir, hexOf(digest)), diffId);
  }
}
