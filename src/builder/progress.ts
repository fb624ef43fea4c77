/**
 * Typed progress events from build(); the CLI renders them (library code never prints). `step` is
 * the step's number in this build (BuildKit's `#N`), `stage` the index of its stage in the
 * Dockerfile: stages built at the same time interleave their events.
 */
import type { Finding } from '../checks/index.js';

export type BuildEvent =
  | { readonly type: 'step-start'; readonly step: number; readonly stage?: number; readonly name: string }
  | {
      readonly type: 'step-done';
      readonly step: number;
      readonly stage?: number;
      readonly name: string;
      readonly seconds: number;
      readonly cached: boolean;
      /** For a step that made a layer and missed the cache: what changed (`src/index.js changed`). */
      readonly reason?: string;
    }
  | { readonly type: 'step-error'; readonly step: number; readonly stage?: number; readonly name: string; readonly message: string }
  | { readonly type: 'log'; readonly step: number; readonly line: string }
  /** A build check's finding (BuildKit's build warnings): sent once the checks have run, before the outputs. */
  | { readonly type: 'warning'; readonly finding: Finding }
  /**
   * Bytes moving inside a step: a base layer's download (`id` its digest), the context read, an
   * output written or pushed. Sent at most every 100 ms for an id while it moves, and once `done`.
   */
  | {
      readonly type: 'step-progress';
      readonly step: number;
      readonly id: string;
      readonly current: number;
      readonly total?: number;
      readonly done: boolean;
    };

/** How often a step-progress event is sent for one id while its bytes move. */
export const PROGRESS_EVERY_MS = 100;

/**
 * A function to call with each byte count of `id`s inside step `step`: it sends step-progress
 * events, at most one every PROGRESS_EVERY_MS per id, and always the last (`done`).
 */
export function progressOf(emit: (e: BuildEvent) => void, step: number, now: () => number = () => performance.now()): (id: string, current: number, total: number | undefined, done: boolean) => void {
  const last = new Map<string, number>();
  return (id, current, total, done) => {
    const t = now();
    if (!done && t - (last.get(id) ?? -Infinity) < PROGRESS_EVERY_MS) return;
    last.set(id, t);
    emit({ type: 'step-progress', step, id, current, ...(total === undefined || total < 0 ? {} : { total }), done });
  };
}
