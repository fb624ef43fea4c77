/**
 * RUN --mount values, expanded and checked (parseMount), as runtime mounts, plus what of them goes
 * into the cache key: a bind source by content, a cache by id, a secret by id only (never its
 * value). Secrets given as env= come back as variables for the command (kept out of the key).
 */
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { markFolderUsed } from '../../cache/index.js';
import { KeelError, assertNever } from '../../errors.js';
import { canonicalJson, sha256, type LayerEntry } from '../../image/index.js';
import { expandWord, MountError, parseMount, type Instruction, type Mount, type MountSharing } from '../../parser/index.js';
import { bindBeneath, type RuntimeMount } from '../../runtime/index.js';
import { materialize } from '../../snapshot/index.js';
import { cleanPath, StageFs, type FsNode } from '../../tree/index.js';
import { layerEntries, recipeEntry } from '../layers.js';
import type { StepContext } from '../step-context.js';

/** A cache mount before it is held: which cache, where, and how it is shared. */
export interface CacheMountPlan {
  readonly kind: 'cache';
  readonly target: string;
  readonly id: string;
  /** The cache's folder (instance 0; other instances beside it). */
  readonly host: string;
  /** source=: a folder inside the cache ('' for the whole). */
  readonly source: string;
  readonly readOnly: boolean;
  readonly sharing: MountSharing;
  /** A fresh folder's mode and owner. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface RunMounts {
  /** In the order written (a later target may be below an earlier one); caches are held by holdMounts. */
  readonly mounts: ReadonlyArray<RuntimeMount | CacheMountPlan>;
  /** What the cache key holds of each mount. */
  readonly keys: readonly unknown[];
  /** Variables set from secrets (env=), for the command only. */
  readonly secretEnv: ReadonlyArray<readonly [string, string]>;
}

export async function runMounts(ins: Extract<Instruction, { kind: 'RUN' }>, ctx: StepContext, cwd: string): Promise<RunMounts> {
  const runtime: Array<RuntimeMount | CacheMountPlan> = [];
  const keys: unknown[] = [];
  const secretEnv: Array<[string, string]> = [];
  for (const flag of ins.mounts) {
    let m: Mount;
    try {
      m = parseMount(flag.value, (w) => expandWord(w, ctx.stage.vars, { escape: ctx.escape }));
    } catch (e) {
      if (e instanceof MountError) throw new KeelError('E_BUILD_INPUT', e.message);
      throw e;
    }
    const target = m.target === undefined ? undefined : posix.resolve(cwd, m.target);
    switch (m.type) {
      case 'cache': {
        if (target === undefined) throw new KeelError('E_BUILD_INPUT', 'a cache mount needs a target');
        const id = m.cacheId ?? target;
        const host = join(ctx.cacheDir, 'mounts', 'cache', sha256(id).slice(7, 39));
        // source= names a folder inside the cache (BuildKit's selector), resolved and bound when the RUN
        // holds the cache (holdMounts), never followed out of it
        const source = m.source === undefined ? '' : cleanPath(m.source);
        runtime.push({
          kind: 'cache', target, id, host, source, readOnly: m.readOnly, sharing: m.sharing ?? 'shared', mode: m.mode ?? 0o755, uid: m.uid ?? 0, gid: m.gid ?? 0,
        });
        keys.push({ type: 'cache', target, id, readOnly: m.readOnly, ...(source === '' ? {} : { source }) });
        break;
      }
      case 'tmpfs':
        if (target === undefined) throw new KeelError('E_BUILD_INPUT', 'a tmpfs mount needs a target');
        runtime.push({ kind: 'tmpfs', target, ...(m.sizeLimit === undefined ? {} : { size: m.sizeLimit }) });
        keys.push({ type: 'tmpfs', target, size: m.sizeLimit ?? 0 });
        break;
      case 'bind': {
        if (target === undefined) throw new KeelError('E_BUILD_INPUT', 'a bind mount needs a target');
        const from = m.from === undefined
          ? (await ctx.sources.buildContext()).fs
          : await ctx.sources.readTree(await ctx.stageOrImage(m.from, true));
        const src = from.resolve(cleanPath(m.source ?? '/'), true);
        const node = from.get(src);
        if (node === undefined) throw new KeelError('E_SOURCE_NOT_FOUND', `RUN --mount source ${JSON.stringify(m.source ?? '/')} not found`);
        // a copy of just that source (the context's .dockerignore holds; a read-write mount's writes are dropped)
        const sub = new StageFs();
        if (node.type === 'directory') {
          sub.set('', node);
          for (const p of from.descendants(src)) sub.set(src === '' ? p : p.slice(src.length + 1), from.get(p) as FsNode);
        } else {
          sub.set('', { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
          sub.set('file', node);
        }
        const host = ctx.workspace.scratchPath('bind');
        await materialize(sub, host);
        runtime.push({ kind: 'bind', target, source: node.type === 'directory' ? host : join(host, 'file'), readOnly: m.readOnly });
        const entries = await Promise.all(sub.paths().map((p) => recipeEntry(ctx.hasher, layerEntries([p], sub)[0] as LayerEntry, sub.get(p))));
        keys.push({ type: 'bind', target, from: m.from ?? '', source: m.source ?? '/', readOnly: m.readOnly, content: sha256(canonicalJson(entries)) });
        break;
      }
      case 'secret': {
        const id = m.cacheId ?? (m.target === undefined ? undefined : posix.basename(m.target));
        const given = id === undefined ? undefined : ctx.opts.secrets?.[id];
        if (given === undefined) {
          if (m.required) throw new KeelError('E_BUILD_INPUT', `secret ${id ?? '(no id)'} is required but was not given`);
          break; // BuildKit skips a secret it does not have unless required
        }
        const value = 'value' in given ? Buffer.from(given.value) : await readFile(given.path);
        if (m.env !== undefined) secretEnv.push([m.env, value.toString('utf8')]);
        if (m.env === undefined || m.target !== undefined) {
          const host = ctx.workspace.scratchPath('secret');
          await mkdir(posix.dirname(host), { recursive: true });
          await writeFile(host, value, { mode: m.mode ?? 0o400 });
          await chown(host, m.uid ?? 0, m.gid ?? 0);
          runtime.push({ kind: 'bind', target: target ?? `/run/secrets/${id as string}`, source: host, readOnly: true });
        }
        keys.push({ type: 'secret', id, target: target ?? '', env: m.env ?? '' }); // the id, never the value
        break;
      }
      case 'ssh':
        throw new KeelError('E_UNSUPPORTED', 'RUN --mount=type=ssh is not supported');
      default:
        assertNever(m.type);
    }
  }
  return { mounts: runtime, keys, secretEnv };
}

/**
 * The RUN's mounts for the runtime, each cache held as its `sharing=` says (caches taken in the
 * order of their ids, so two RUNs locking the same two caches cannot wait on each other), its
 * `source=` bound safely (runtime/safe-bind.ts). `release()` after the RUN, whatever happened.
 */
export async function holdMounts(m: RunMounts, ctx: StepContext): Promise<{ readonly runtime: readonly RuntimeMount[]; release(): Promise<void> }> {
  const releases: Array<() => Promise<void> | void> = [];
  const release = async (): Promise<void> => {
    for (const r of releases.splice(0).reverse()) await r();
  };
  try {
    const held = new Map<CacheMountPlan, RuntimeMount>();
    const caches = m.mounts.filter((x): x is CacheMountPlan => x.kind === 'cache').sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const c of caches) {
      const lease = await ctx.cacheMounts.acquire(c.id, c.sharing, ctx.signal);
      releases.push(() => lease.release());
      const folder = lease.instance === 0 ? c.host : `${c.host}-${lease.instance}`;
      const fresh = !(await stat(folder).then(() => true, () => false));
      await mkdir(folder, { recursive: true });
      await markFolderUsed(folder); // for the cache's budget: the least recently used mounts go first
      if (fresh) {
        await chmod(folder, c.mode);
        await chown(folder, c.uid, c.gid);
      }
      if (c.source === '') {
        held.set(c, { kind: 'bind', target: c.target, source: folder, readOnly: c.readOnly });
        continue;
      }
      const point = ctx.workspace.scratchPath('cache');
      releases.push(await bindBeneath(folder, c.source, point, 'cache mount source', ` in cache ${JSON.stringify(c.id)}`));
      held.set(c, { kind: 'bind', target: c.target, source: point, readOnly: c.readOnly });
    }
    return { runtime: m.mounts.map((x) => (x.kind === 'cache' ? held.get(x) as RuntimeMount : x)), release };
  } catch (e) {
    await release();
    throw e;
  }
}
