/**
 * WORKDIR: sets the working folder, and makes it (with its parents) when missing: a layer only if
 * a folder was made. Folders made under USER belong to the user and its primary group (BuildKit
 * runs the mkdir as USER).
 */
import { join } from 'node:path';
import type { Instruction } from '../../parser/index.js';
import { parentOf } from '../../tree/index.js';
import { cachedResult, contentLayer, inputKey } from '../layers.js';
import { cloneConfig, historyEntry } from '../stage.js';
import type { StepContext, StepResult } from '../step-context.js';
import { resolveUser } from '../users.js';

export async function workdirStep(ins: Extract<Instruction, { kind: 'WORKDIR' }>, ctx: StepContext): Promise<StepResult> {
  const p = ctx.word(ins.path.value);
  const wd = p.startsWith('/') ? p : join('/', ctx.stage.cfg.workdir ?? '', p);
  const workdir = wd.replace(/^\/+/, '').replace(/\/+$/, '');
  const cfg = { ...cloneConfig(ctx.stage.cfg), workdir };
  const text = `WORKDIR /${workdir}`;
  const history = historyEntry(text, ctx.times.created());
  // the layer below and USER decide what is made: found again without the tree
  const key = inputKey(ctx, 'WORKDIR', { workdir, user: ctx.stage.cfg.user ?? '' });
  const known = key === undefined || ctx.noCache ? undefined : await ctx.stepCache.get(key);
  if (known !== undefined) return { ...(await cachedResult(ctx, known)), ...(key === undefined ? {} : { key }), cfg, history };
  const fs = await ctx.sources.treeOf(ctx.stage);
  const owner = ctx.stage.cfg.user === undefined ? { uid: 0, gid: 0 } : await resolveUser(ctx.stage.cfg.user, fs);
  const created: string[] = [];
  for (let dir = workdir; dir !== ''; dir = parentOf(dir)) {
    if (fs.get(fs.resolve(dir, true)) === undefined) created.unshift(dir);
  }
  for (const dir of created) fs.set(dir, { type: 'directory', mode: 0o755, ...owner, mtime: ctx.times.createdMtime() });
  const outcome = await contentLayer(ctx, fs, created, text, key === undefined ? {} : { inputKey: key });
  return { ...outcome, ...(key === undefined ? {} : { key }), cfg, tree: fs, history };
}
