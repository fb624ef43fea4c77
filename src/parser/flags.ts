/**
 * Flag validation for one instruction, as BuildKit's instructions/bflag.go does it (same order of
 * checks, same messages). Flag names are case-sensitive.
 */
import { KeelError } from '../errors.js';
import type { Flag, Range } from './ast.js';
import { withSuggestion } from './go-text.js';

export type FlagType = 'bool' | 'string' | 'strings';
export type FlagSpecs = Readonly<Record<string, FlagType>>;

/** An instruction-level problem with the range of the token at fault. */
export class InstructionFailure extends KeelError {
  declare readonly code: 'E_UNKNOWN_INSTRUCTION' | 'E_FLAG' | 'E_ARGUMENTS' | 'E_VALUE' | 'E_NO_STAGE';
  constructor(
    code: 'E_UNKNOWN_INSTRUCTION' | 'E_FLAG' | 'E_ARGUMENTS' | 'E_VALUE' | 'E_NO_STAGE',
    message: string,
    readonly range?: Range,
  ) {
    super(code, message);
  }
}

export interface FlagValues {
  /** String flags: the value; bool flags: 'true' | 'false'. Undefined when not given. */
  string(name: string): string | undefined;
  bool(name: string): boolean | undefined;
  strings(name: string): readonly string[];
  readonly used: ReadonlySet<string>;
}

const NONE: readonly string[] = [];
const NO_FLAGS: FlagValues = { string: () => undefined, bool: () => undefined, strings: () => NONE, used: new Set() };

export function parseFlags(flags: readonly Flag[], specs: FlagSpecs): FlagValues {
  if (flags.length === 0) return NO_FLAGS;
  const values = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const used = new Set<string>();
  for (const f of flags) {
    const eq = f.raw.indexOf('=');
    const flagName = eq < 0 ? f.raw : f.raw.slice(0, eq);
    const hasValue = eq >= 0;
    const value = hasValue ? f.raw.slice(eq + 1) : '';
    const name = flagName.slice(2);
    const type = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (type === undefined) {
      throw new InstructionFailure('E_FLAG', withSuggestion(`unknown flag: ${flagName}`, name, Object.keys(specs), true), f.range);
    }
    if (used.has(name) && type !== 'strings') {
      throw new InstructionFailure('E_FLAG', `duplicate flag specified: ${flagName}`, f.range);
    }
    used.add(name);
    switch (type) {
      case 'bool': {
        if (hasValue && value === '') throw new InstructionFailure('E_FLAG', `missing a value on flag: ${flagName}`, f.range);
        const v = value.toLowerCase();
        if (v === 'true' || v === '') values.set(name, 'true');
        else if (v === 'false') values.set(name, 'false');
        else throw new InstructionFailure('E_FLAG', `expecting boolean value for flag ${flagName}, not: ${value}`, f.range);
        break;
      }
      case 'string':
        if (!hasValue) throw new InstructionFailure('E_FLAG', `missing a value on flag: ${flagName}`, f.range);
        values.set(name, value);
        break;
      case 'strings':
        if (!hasValue) throw new InstructionFailure('E_FLAG', `missing a value on flag: ${flagName}`, f.range);
        lists.set(name, [...(lists.get(name) ?? []), value]);
        break;
    }
  }
  return {
    string: (name) => values.get(name),
    bool: (name) => (values.has(name) ? values.get(name) === 'true' : undefined),
    strings: (name) => lists.get(name) ?? NONE,
    used,
  };
}
