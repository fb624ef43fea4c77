/**
 * Writing a small file so that no reader ever sees half of it: written beside its name, then
 * renamed over it (a rename is atomic within a file system). A crash leaves the old file or the
 * new one, and at most a temporary file that no one reads.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';

export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}
