/** Checks of a cache folder after builds that were killed or ran side by side. */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Blobs whose bytes are not their name; step records whose blob is missing or of another size. */
export async function cacheProblems(cacheDir: string): Promise<string[]> {
  const problems: string[] = [];
  const blobs = join(cacheDir, 'blobs', 'sha256');
  for (const name of await readdir(blobs).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue; // a write in progress when the build was killed: never read as a blob
    const hex = createHash('sha256').update(await readFile(join(blobs, name))).digest('hex');
    if (hex !== name) problems.push(`blob ${name} holds ${hex}`);
  }
  for (const name of await readdir(join(cacheDir, 'steps')).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    const record = JSON.parse(await readFile(join(cacheDir, 'steps', name), 'utf8')) as { layer: { digest: string; size: number } | null };
    if (record.layer === null) continue;
    const size = (await stat(join(blobs, record.layer.digest.slice(7))).catch(() => undefined))?.size;
    if (size !== record.layer.size) problems.push(`step ${name} names ${record.layer.digest} (${record.layer.size} bytes), stored: ${size ?? 'none'}`);
  }
  return problems;
}

