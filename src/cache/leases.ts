/**
 * Who is using a cache folder. Each build holds a lease (`<cacheDir>/leases/<pid>-<random>`) while
 * it runs; garbage collection holds `<cacheDir>/leases/collecting` while it removes. The two
 * exclude each other as two flags do: a build writes its lease, then waits while a collection's
 * mark is there; a collection writes its mark, then gives up if any other lease is there. So a
 * collection never removes what a build is using, and a build never starts on a half-collected
 * cache. A lease or mark whose process is gone (a killed build) no longer counts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { processAlive } from '../process-alive.js';

const leasesOf = (root: string): string => join(root, 'leases');
const COLLECTING = 'collecting';

export interface Lease {
  readonly name: string;
  release(): Promise<void>;
}

/** Take a lease for process `pid`, then wait (polling) while a collection runs; the lease is held meanwhile. */
export async function takeLease(root: string, pid: number, signal?: AbortSignal): Promise<Lease> {
  await mkdir(leasesOf(root), { recursive: true, mode: 0o700 });
  const name = `${pid}-${randomBytes(6).toString('hex')}`;
  const file = join(leasesOf(root), name);
  await writeFile(file, '');
  const release = (): Promise<void> => rm(file, { force: true });
  try {
    while (await collectionRunning(root)) {
      if (signal?.aborted) throw new KeelError('E_ABORTED', 'build aborted');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { name, release };
}

async function collectionRunning(root: string): Promise<boolean> {
  const pid = Number(await readFile(join(leasesOf(root), COLLECTING), 'utf8').catch(() => ''));
  return Number.isSafeInteger(pid) && pid > 0 && processAlive(pid);
}

/** Leases other than `own` held by live processes (stale ones are cleared). */
export async function otherLeases(root: string, own?: string): Promise<number> {
  let live = 0;
  for (const name of await readdir(leasesOf(root)).catch(() => [] as string[])) {
    if (name === COLLECTING || name === own) continue;
    const pid = Number(name.split('-')[0]);
    if (!Number.isSafeInteger(pid) || pid <= 0) continue;
    if (processAlive(pid)) live++;
    else await rm(join(leasesOf(root), name), { force: true });
  }
  return live;
}

/**
 * Start a collection for process `pid` (its builds' own lease `own` aside): resolves with its end,
 * or with the number of other builds using the cache (then nothing may be removed).
 */
export async function startCollection(root: string, pid: number, own?: string): Promise<{ done: () => Promise<void> } | { busy: number }> {
  await mkdir(leasesOf(root), { recursive: true, mode: 0o700 });
  const mark = join(leasesOf(root), COLLECTING);
  if (await collectionRunning(root)) return { busy: 1 };
  await writeFile(mark, String(pid));
  const done = async (): Promise<void> => {
    if ((await readFile(mark, 'utf8').catch(() => '')) === String(pid)) await rm(mark, { force: true });
  };
  const busy = await otherLeases(root, own);
  if (busy > 0) {
    await done();
    return { busy };
  }
  return { done };
}
