/**
 * What a killed keel leaves of its RUNs (SIGKILL, a crash, power loss), cleared by the next build
 * that runs one: the containers it started (ids `keel-<pid>-…` in the runtime), the overlay mounts under its
 * scratch folder `<cacheDir>/run/<pid>-<random>/`, and the folder. Only a process that is gone is
 * reaped: builds running beside this one (same cache, live pid) are left alone.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { quietly } from './commands.js';
import { processAlive } from '../process-alive.js';
import type { Runtime } from './runtime.js';

/** Reap the scratch folders of dead keel processes (not `ownPid`'s) under `runRoot` (`<cacheDir>/run`), and their containers in `runtime`. */
export async function reapStaleRuns(runRoot: string, runtime: Runtime, ownPid: number): Promise<void> {
  const dead = (await readdir(runRoot).catch(() => [] as string[])).filter((name) => {
    const pid = Number(name.slice(0, name.indexOf('-')));
    return Number.isInteger(pid) && pid > 0 && pid !== ownPid && !processAlive(pid);
  });
  if (dead.length === 0) return;
  const pids = new Set(dead.map((name) => name.slice(0, name.indexOf('-'))));
  for (const id of await runtime.list()) {
    const pid = /^keel-(\d+)-/.exec(id)?.[1];
    if (pid !== undefined && pids.has(pid)) await runtime.remove(id);
  }
  for (const name of dead) await removeRunDir(join(runRoot, name));
}

/** Unmount whatever is still mounted under a run folder (lazily, deepest first), then remove it. */
export async function removeRunDir(dir: string): Promise<void> {
  for (const m of (await mountPoints()).filter((p) => p.startsWith(`${dir}/`)).sort().reverse()) await quietly('umount', ['-l', m]);
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
}


/** Mount points, from /proc/self/mounts (where spaces and the like are octal escapes). */
async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}
