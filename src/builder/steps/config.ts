/**
 * Steps that change only the stage's config and variables (metadata.ts: ENV, LABEL, USER, CMD, …)
 * and ARG, which changes only the variables RUN sees. They make no layer and never miss the cache.
 */
import type { ArgInstruction } from '../../parser/index.js';
import { applyMetadata, type MetadataInstruction } from '../metadata.js';
import { cloneConfig, historyEntry } from '../stage.js';
import type { StepContext, StepResult } from '../step-context.js';

export function configStep(ins: MetadataInstruction, ctx: StepContext): StepResult {
  const cfg = cloneConfig(ctx.stage.cfg);
  const vars = new Map(ctx.stage.vars);
  const text = applyMetadata(ins, cfg, vars, ctx.escape);
  return { cfg, vars, cached: false, ...(text === undefined ? {} : { history: historyEntry(text, ctx.times.created()) }) };
}

/**
 * ARG: a build arg given for the name wins, then the default (expanded), then a global ARG's value
 * (an ARG re-declared in a stage takes the global value, as BuildKit does).
 */
export function argStep(ins: ArgInstruction, ctx: StepContext, globals: ReadonlyMap<string, string>): StepResult {
  const vars = new Map(ctx.stage.vars);
  const parts: string[] = [];
  for (const d of ins.declarations) {
    const given = ctx.opts.buildArgs?.[d.name];
    const value = given ?? (d.default !== undefined ? ctx.word(d.default) : globals.get(d.name));
    if (value !== undefined) vars.set(d.name, value);
    parts.push(value === undefined ? d.name : `${d.name}=${value}`);
  }
  return { vars, history: historyEntry(`ARG ${parts.join(' ')}`, ctx.times.created()), cached: false };
}
