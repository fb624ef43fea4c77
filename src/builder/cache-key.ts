/**
 * Cache keys for layer-making steps. A COPY, ADD or WORKDIR layer is a pure function of the entries
 * it writes (path, type, mode, owner, mtime as written, size, link target, content hash) and of the
 * compression, so that list is its recipe, and the key is sha256 over the recipe's canonical JSON
 * (node:crypto, never ohash's object hashing: SPEC.md section 6). Because the recipe captures the
 * layer exactly, the key needs no parent: a step whose inputs did not change hits even after an
 * earlier step missed. The stage's chain key after the step is made from its parent's key (ChainKey below).
 */
import { canonicalJson, sha256, type Digest } from '../image/index.js';
import type { Timestamps } from './timestamps.js';

/** [path, type, mode, uid, gid, mtime, size, link target (a device's kind:major:minor), content sha256, and the extended attributes' canonical JSON where there are some] */
export type RecipeEntry = readonly [string, string, number, number, number, number, number, string, string] | readonly [string, string, number, number, number, number, number, string, string, string];

export interface Recipe {
  readonly version: 1;
  /** The instruction as it ran (expanded), for explaining misses; it does not change the layer. */
  readonly instruction: string;
  readonly compression: string;
  readonly entries: readonly RecipeEntry[];
}

export function cacheKey(recipe: Recipe): Digest {
  return sha256(canonicalJson({ version: recipe.version, compression: recipe.compression, entries: recipe.entries }));
}

function isRecipe(v: unknown): v is Recipe {
  return typeof v === 'object' && v !== null && (v as Recipe).version === 1 && Array.isArray((v as Recipe).entries);
}

/** Why this step's key differs from the one it had last time, in a few words for progress output. */
export function explainMiss(previous: unknown, now: Recipe): string {
  if (!isRecipe(previous)) return 'not built before';
  if (previous.compression !== now.compression) return `compression changed to ${now.compression}`;
  const before = new Map(previous.entries.map((e) => [e[0], e]));
  const after = new Map(now.entries.map((e) => [e[0], e]));
  const changed: string[] = [];
  for (const [path, e] of after) {
    const old = before.get(path);
    if (old === undefined) changed.push(`${path} added`);
    else if (old[8] !== e[8] || old[6] !== e[6]) changed.push(`${path} changed`);
    else if (JSON.stringify(old) !== JSON.stringify(e)) changed.push(`${path} metadata changed`);
  }
  for (const path of before.keys()) if (!after.has(path)) changed.push(`${path} removed`);
  if (changed.length === 0) return previous.instruction !== now.instruction ? 'the instruction changed' : 'the cached layer is gone';
  return changed.length === 1 ? (changed[0] as string) : `${changed[0] as string} (and ${changed.length - 1} more)`;
}

/**
 * What of the build's time settings changes a layer's bytes: the mtime that a file written long
 * after any SOURCE_DATE_EPOCH gets in a layer (1980-01-01, SOURCE_DATE_EPOCH, or its own time under
 * `timestamps: 'preserve'`). Every key of a step that writes a layer holds it.
 */
export function timePolicy(times: Pick<Timestamps, 'mtime'>): number {
  return times.mtime(2 ** 40);
}

/**
 * A stage's chain key: what its files are a function of, so that a step is found by its parent's
 * key and its own recipe, never by the layers below (BuildKit's solver keys an op by its
 * definition and its inputs' keys: solver/cachekey.go, llbsolver/ops). A layer-making step's key
 * is the stage's key after it.
 */
export type ChainKey = Digest;

/** FROM scratch (and a stage with no layers): nothing below. */
export const SCRATCH_KEY: ChainKey = sha256('keel chain: scratch');

/**
 * An image's files as a chain key: its layers' blob digests in order (the manifest's list, each
 * the address of the bytes it names, checked when they are read), so that two names for the same
 * layers share their steps and an image claiming another's diffIDs shares nothing with it.
 */
export function imageKey(layers: ReadonlyArray<{ readonly digest: Digest }>): ChainKey {
  return layers.length === 0 ? SCRATCH_KEY : sha256(canonicalJson({ kind: 'image', layers: layers.map((l) => l.digest) }));
}

/** The key after a layer found only by its content (an ADD of a URL, preserved times): its parent's and the layer's diffID. */
export function layerKey(parent: ChainKey, diffId: Digest): ChainKey {
  return sha256(canonicalJson({ kind: 'layer', parent, diffId }));
}

/** What a RUN's output depends on: its parent's chain key and everything the command sees. */
export interface RunKeyInputs {
  readonly parent: ChainKey;
  readonly args: readonly string[];
  readonly env: ReadonlyArray<readonly [string, string]>;
  readonly cwd: string;
  readonly user: string;
  readonly network: string;
  readonly security: string;
  readonly platform: string;
  readonly mounts: unknown;
  readonly extraHosts: readonly string[];
  /** The layer format (compression and level). */
  readonly layers: string;
  /** timePolicy(): RUN's layer entries take the build's times (steps/run.ts), so a RUN cached by a
   * default build is not reused by a SOURCE_DATE_EPOCH or 'preserve' build. */
  readonly epoch: number;
  /** RUN --device names (CDI). */
  readonly devices: readonly string[];
}

/**
 * What a RUN's last miss is explained against: its key's inputs, with every value that may be a
 * secret or long reduced to a hash (an environment variable's value, the mounts' keys). Saved
 * beside the step's name, like a content recipe (StepCacheView.saveRecipe).
 */
export interface RunRecipe {
  readonly kind: 'RUN';
  readonly version: 1;
  readonly parent: ChainKey;
  readonly args: string;
  /** Each variable's name with a hash of its value: a miss names the variable, never the value. */
  readonly env: ReadonlyArray<readonly [string, string]>;
  readonly cwd: string;
  readonly user: string;
  readonly network: string;
  readonly security: string;
  readonly platform: string;
  readonly mounts: string;
  readonly extraHosts: string;
  readonly layers: string;
  readonly epoch: number;
  readonly devices: string;
}

export function runRecipe(k: RunKeyInputs): RunRecipe {
  const h = (v: unknown): string => sha256(canonicalJson(v));
  return {
    kind: 'RUN', version: 1, parent: k.parent, args: h(k.args), env: k.env.map(([name, value]) => [name, h(value)]), cwd: k.cwd, user: k.user,
    network: k.network, security: k.security, platform: k.platform, mounts: h(k.mounts), extraHosts: h(k.extraHosts), layers: k.layers, epoch: k.epoch, devices: h(k.devices),
  };
}

function isRunRecipe(v: unknown): v is RunRecipe {
  return typeof v === 'object' && v !== null && (v as RunRecipe).kind === 'RUN' && (v as RunRecipe).version === 1 && Array.isArray((v as RunRecipe).env);
}

/**
 * Why a RUN missed, against the recipe it had in the last build: what it sees that changed, in
 * a few words (variables by name only); "a step before it changed" when only its parent did.
 */
export function explainRunMiss(previous: unknown, now: RunRecipe, lastMiss?: string): string {
  if (!isRunRecipe(previous)) return 'not built before';
  const changed: string[] = [];
  if (previous.args !== now.args) changed.push('the command changed');
  const before = new Map(previous.env);
  const after = new Map(now.env);
  for (const [name, value] of after) {
    const old = before.get(name);
    if (old === undefined) changed.push(`${name} set`);
    else if (old !== value) changed.push(`${name} changed`);
  }
  for (const name of before.keys()) if (!after.has(name)) changed.push(`${name} unset`);
  const fields: ReadonlyArray<readonly [keyof RunRecipe, string]> = [
    ['cwd', 'WORKDIR'], ['user', 'USER'], ['network', 'the network'], ['security', 'the security mode'], ['platform', 'the platform'],
    ['mounts', 'its mounts'], ['extraHosts', 'the extra hosts'], ['devices', 'its devices'], ['layers', 'the compression'], ['epoch', 'SOURCE_DATE_EPOCH'],
  ];
  for (const [field, words] of fields) if (previous[field] !== now[field]) changed.push(`${words} changed`);
  if (changed.length === 0) {
    if (previous.parent === now.parent) return 'the cached layer is gone';
    return lastMiss === undefined ? 'a step before it changed' : `a step before it changed: ${lastMiss}`;
  }
  return changed.length === 1 ? (changed[0] as string) : `${changed[0] as string} (and ${changed.length - 1} more)`;
}

export function runKey(k: RunKeyInputs): Digest {
  return sha256(canonicalJson({
    kind: 'RUN', version: 4, parent: k.parent, args: k.args, env: k.env, cwd: k.cwd, user: k.user, network: k.network, security: k.security,
    platform: k.platform, mounts: k.mounts, epoch: k.epoch, layers: k.layers,
    // /etc/hosts is part of what the command sees (BuildKit's ExecOp keys its extra hosts too)
    ...(k.extraHosts.length === 0 ? {} : { extraHosts: k.extraHosts }),
    ...(k.devices.length === 0 ? {} : { devices: k.devices }),
  }));
}
