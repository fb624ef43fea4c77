/**
 * RUN --mount values, expanded and checked (parseMount), as runtime mounts, plus what of them goes
 * into the cache key: a bind source by content, a cache by id, a secret by id only (never its
 * value). Secrets given as env= come back as variables for the command (kept out of the key).
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { markFolderUsed } from '../../cache/index.js';
import { KeelError, assertNever } from '../../errors.js';
import { canonicalJson, sha256, type LayerEntry } from '../../image/index.js';
import { expandWord, MountError, parseMount, type Instruction, type Mount } from '../../parser/index.js';
import { materialize, type RuntimeMount } from '../../runtime/index.js';
import { cleanPath, resolveInRoot, StageFs, type FsNode } from '../../tree/index.js';
import { layerEntries, recipeEntry } from '../layers.js';
import type { StepContext } from '../step-context.js';

export interface RunMounts {
  readonly runtime: readonly RuntimeMount[];
  /** What the cache key holds of each mount. */
  readonly keys: readonly unknown[];
  /** Variables set from secrets (env=), for the command only. */
  readonly secretEnv: ReadonlyArray<readonly [string, string]>;
}

export async function runMounts(ins: Extract<Instruction, { kind: 'RUN' }>, ctx: StepContext, cwd: string): Promise<RunMounts> {
  const runtime: RuntimeMount[] = [];
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
        const fresh = !(await stat(host).then(() => true, () => false));
        await mkdir(host, { recursive: true });
        await markFolderUsed(host); // for the cache's budget: the least recently used mounts go first
        if (fresh) {
          await chmod(host, m.mode ?? 0o755);
          await chown(host, m.uid ?? 0, m.gid ?? 0);
        }
        // source= names a folder inside the cache (BuildKit's selector); it must be there already, and
        // its symlinks are resolved inside the cache, never on this machine (a RUN writes that folder)
        const sub = m.source === undefined ? '' : resolveInRoot(cleanPath(m.source), true, (p) => {
          const st = lstatSync(join(host, p), { throwIfNoEntry: false });
          return st?.isSymbolicLink() === true ? readlinkSync(join(host, p)) : undefined;
        });
        if (sub !== '' && lstatSync(join(host, sub), { throwIfNoEntry: false })?.isDirectory() !== true) {
          throw new KeelError('E_BUILD_INPUT', `cache mount source ${JSON.stringify(m.source)} is not a folder in cache ${JSON.stringify(id)}`);
        }
        runtime.push({ kind: 'bind', target, source: join(host, sub), readOnly: m.readOnly });
        keys.push({ type: 'cache', target, id, readOnly: m.readOnly, ...(sub === '' ? {} : { source: sub }) });
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
  return { runtime, keys, secretEnv };
}
