/** One step: the instruction's kind chooses its module; a new instruction kind is a compile error until it has one. */
import { assertNever, KeelError } from '../../errors.js';
import type { Instruction } from '../../parser/index.js';
import { isMetadata } from '../metadata.js';
import type { StepContext, StepResult } from '../step-context.js';
import { argStep, configStep } from './config.js';
import { copyStep } from './copy.js';
import { runStep } from './run.js';
import { workdirStep } from './workdir.js';

/** `globals`: the ARGs before the first FROM (an ARG in a stage may take its value from them). */
export async function runInstruction(ins: Instruction, ctx: StepContext, globals: ReadonlyMap<string, string>): Promise<StepResult> {
  if (isMetadata(ins)) return configStep(ins, ctx);
  switch (ins.kind) {
    case 'ARG':
      return argStep(ins, ctx, globals);
    case 'WORKDIR':
      return workdirStep(ins, ctx);
    case 'COPY':
    case 'ADD':
      return copyStep(ins, ctx);
    case 'RUN':
      return runStep(ins, ctx);
    case 'FROM':
      throw new KeelError('E_INTERNAL', 'FROM inside a stage');
    default:
      return assertNever(ins);
  }
}
