/**
 * Typed progress events from build(); the CLI renders them (library code never prints). `step` is
 * the step's number in this build (BuildKit's `#N`), `stage` the index of its stage in the
 * Dockerfile: stages built at the same time interleave their events.
 */
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
  | { readonly type: 'log'; readonly step: number; readonly line: string };
