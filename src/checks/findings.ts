/**
 * A build check's finding, and the set a run of the checks collects: each once, with the level
 * the configuration gives (`error` under `error=true`), in BuildKit's printing order (by line,
 * then message), each named by the stage its line is in.
 */
import type { Range } from '../parser/index.js';
import { ruleEnabled, type CheckConfig } from './config.js';
import { RULES, type RuleName } from './rules.js';

export interface Finding {
  readonly rule: RuleName;
  readonly description: string;
  readonly url?: string;
  readonly message: string;
  /** The instruction (or FROM) it is about, 1-based lines and columns. */
  readonly range: Range;
  /** The stage's index, for findings inside a stage. */
  readonly stage?: number;
  /** 'error' when the configuration says `error=true`. */
  readonly level: 'warning' | 'error';
}

/** Findings as they are made, each once, in BuildKit's order for printing: by line, then message. */
export class Findings {
  private readonly all = new Map<string, Finding>();

  /** `fromLines`: where each stage's FROM is, to give a finding the stage its line is in. */
  constructor(private readonly base: CheckConfig, private readonly fromLines: readonly number[] = []) {}

  add(config: CheckConfig, rule: RuleName, message: string, range: Range, stageGiven?: number): void {
    if (!ruleEnabled(config, rule)) return;
    let stage = stageGiven;
    for (let i = 0; stage === undefined && i < this.fromLines.length; i++) {
      const next = this.fromLines[i + 1];
      if (range.start.line >= (this.fromLines[i] as number) && (next === undefined || range.start.line < next)) stage = i;
    }
    const r = RULES[rule];
    const f: Finding = {
      rule, description: r.description, ...(r.url === undefined ? {} : { url: r.url }), message, range,
      ...(stage === undefined ? {} : { stage }), level: this.base.error ? 'error' : 'warning',
    };
    this.all.set(`${rule}\n${message}\n${range.start.line}:${range.start.col}`, f);
  }

  sorted(): Finding[] {
    return [...this.all.values()].sort((a, b) => a.range.start.line - b.range.start.line || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
  }
}

