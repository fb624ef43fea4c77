/**
 * Who uses which cache mount while stages run at the same time, with BuildKit's `sharing=` modes
 * (solver/llbsolver/mounts/mount.go): `shared` (the default) lets every RUN use the cache at once;
 * `locked` waits until no other RUN holds it, then holds it alone; `private` takes a folder no one
 * holds: the cache's own when it is free, else another instance of it (kept, and reused by later
 * private mounts). A cache's instances are numbered: 0 is its folder, n > 0 folders beside it.
 * Leases are held in this process (as BuildKit's are in its daemon); builds in other processes on
 * the same cache folder share caches as `shared`.
 */
import { KeelError } from '../errors.js';
import type { MountSharing } from '../parser/index.js';

interface Instance {
  /** RUNs holding it shared. */
  shared: number;
  /** Held alone (locked or private). */
  alone: boolean;
  /** Waiting to hold it, in order. */
  readonly waiting: Array<() => void>;
}

export interface CacheLease {
  /** Which folder of the cache: 0 its own, n another instance. */
  readonly instance: number;
  release(): void;
}

export class CacheMountLeases {
  private readonly caches = new Map<string, Instance[]>();

  private instances(id: string): Instance[] {
    let list = this.caches.get(id);
    if (list === undefined) {
      list = [];
      this.caches.set(id, list);
    }
    return list;
  }

  private instance(id: string, n: number): Instance {
    const list = this.instances(id);
    while (list.length <= n) list.push({ shared: 0, alone: false, waiting: [] });
    return list[n] as Instance;
  }

  /** Hold cache `id` as `sharing` says; the lease's release lets the next waiting RUN in. */
  async acquire(id: string, sharing: MountSharing, signal?: AbortSignal): Promise<CacheLease> {
    if (sharing === 'private') {
      const list = this.instances(id);
      let n = list.findIndex((i) => i.shared === 0 && !i.alone);
      if (n < 0) n = list.length;
      const inst = this.instance(id, n);
      inst.alone = true;
      return { instance: n, release: once(() => this.leave(inst, true)) };
    }
    const inst = this.instance(id, 0);
    const free = (): boolean => !inst.alone && (sharing === 'shared' || inst.shared === 0);
    while (!free()) {
      if (signal?.aborted === true) throw new KeelError('E_ABORTED', 'build aborted');
      await new Promise<void>((resolve) => {
        inst.waiting.push(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    if (sharing === 'shared') inst.shared++;
    else inst.alone = true;
    return { instance: 0, release: once(() => this.leave(inst, sharing !== 'shared')) };
  }

  private leave(inst: Instance, alone: boolean): void {
    if (alone) inst.alone = false;
    else inst.shared--;
    // everyone waiting looks again (a locked RUN waits for the shared ones to go)
    for (const wake of inst.waiting.splice(0)) wake();
  }
}

const once = (fn: () => void): (() => void) => {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
};
