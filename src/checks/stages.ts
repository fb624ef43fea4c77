/**
 * A Dockerfile's stages as the checks walk them: each FROM with the valid instructions after it
 * (a recovered parse's invalid lines are the parser's errors, not the checks').
 */
import type { Instruction, InvalidInstruction } from '../parser/index.js';

export type From = Extract<Instruction, { kind: 'FROM' }>;
export interface Stage {
  readonly from: From;
  readonly instructions: ReadonlyArray<Exclude<Instruction, From>>;
}

export const isArg = (ins: Instruction | InvalidInstruction): ins is Extract<Instruction, { kind: 'ARG' }> => ins.kind === 'ARG';

/** The stages, each FROM with the valid instructions after it (invalid lines are the parser's errors). */
export function splitStages(all: ReadonlyArray<Instruction | InvalidInstruction>): Stage[] {
  const stages: Array<{ from: From; instructions: Array<Exclude<Instruction, From>> }> = [];
  for (const ins of all) {
    if (ins.kind === 'FROM') stages.push({ from: ins, instructions: [] });
    else if (ins.kind !== 'INVALID') stages.at(-1)?.instructions.push(ins);
  }
  return stages;
}


/** The ARGs before the first FROM (the global ones). */
export function globalArgInstructions(all: ReadonlyArray<Instruction | InvalidInstruction>, stages: readonly Stage[]): Array<Extract<Instruction, { kind: 'ARG' }>> {
  const firstFrom = stages[0]?.from.range.start.line ?? Number.POSITIVE_INFINITY;
  return all.filter(isArg).filter((a) => a.range.start.line < firstFrom);
}
