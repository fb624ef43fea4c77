/**
 * A command's flags as one table (name, shorthand, kind, help), read with `node:util.parseArgs`
 * the way docker's pflag reads them: `-t x`, `-tx`, `-t=x`, `--tag x`, `--tag=x`, repeated flags
 * (the last wins for a single value), boolean `--flag=true|false`, `--` ending the flags. The help
 * text is printed from the same table, so it cannot drift from what is parsed.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.js';

export interface FlagSpec {
  readonly name: string;
  readonly short?: string;
  /** 'string': one value (the last given); 'list': every value given; 'boolean': no value. */
  readonly kind: 'string' | 'list' | 'boolean';
  /** The value's name in the help text (`--tag NAME`). */
  readonly value?: string;
  readonly help: string;
  /** A boolean flag given bare means this value of a string flag (docker's `--pull` is a boolean; keel's takes a policy). */
  readonly bare?: string;
}

export interface ParsedFlags {
  readonly strings: ReadonlyMap<string, string>;
  readonly lists: ReadonlyMap<string, readonly string[]>;
  readonly booleans: ReadonlySet<string>;
  readonly positionals: readonly string[];
}

/** docker buildx build's flags that keel does not take yet, with where they are planned. */
export const NOT_YET: Readonly<Record<string, string>> = {
  ssh: 'RUN --mount=type=ssh is not supported yet',
  sbom: 'attestations are not supported yet',
  provenance: 'attestations are not supported yet',
  attest: 'attestations are not supported yet',
  'no-cache-filter': 'use --no-cache',
  builder: 'keel is its own builder: no buildx instance is needed',
  allow: 'keel grants no entitlements yet',
  'shm-size': 'RUN gets the runtime\'s default /dev/shm',
  ulimit: 'RUN gets the runtime\'s default limits',
  'cgroup-parent': 'RUN gets the runtime\'s default cgroup',
};

const TRUE = new Set(['true', '1', 't', 'T', 'TRUE', 'True']);
const FALSE = new Set(['false', '0', 'f', 'F', 'FALSE', 'False']);

/**
 * Rewrite pflag spellings parseArgs does not know into ones it does: `-t=x` (pflag drops the `=`),
 * `--bool=true|false`, a bare `--pull` (its `bare` value).
 */
function normalise(args: readonly string[], specs: readonly FlagSpec[]): string[] {
  const byShort = new Map(specs.filter((s) => s.short !== undefined).map((s) => [s.short as string, s]));
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const short = /^-([A-Za-z])=(.*)$/s.exec(a);
    if (short !== null && byShort.get(short[1] as string)?.kind !== 'boolean') {
      out.push(`-${short[1]}`, short[2] as string);
      continue;
    }
    const long = /^--([^=]+)(?:=(.*))?$/s.exec(a);
    const spec = long === null ? undefined : byName.get(long[1] as string);
    if (long !== null && spec !== undefined) {
      const value = long[2];
      if (spec.kind === 'boolean' && value !== undefined) {
        if (TRUE.has(value)) out.push(`--${spec.name}`);
        else if (FALSE.has(value)) removeEarlier(out, spec);
        else throw new UsageError(`invalid argument "${value}" for "--${spec.name}" flag: want true or false`);
        continue;
      }
      if (spec.bare !== undefined && value === undefined) {
        out.push(`--${spec.name}=${spec.bare}`);
        continue;
      }
    }
    out.push(a);
  }
  return out;
}

/** `--flag=false` after `--flag`: the flag is off again (pflag's last word wins). */
function removeEarlier(out: string[], spec: FlagSpec): void {
  for (let j = out.length - 1; j >= 0; j--) if (out[j] === `--${spec.name}` || (spec.short !== undefined && out[j] === `-${spec.short}`)) out.splice(j, 1);
}

export function parseFlags(args: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple: boolean }> = {};
  for (const s of specs) options[s.name] = { type: s.kind === 'boolean' ? 'boolean' : 'string', multiple: s.kind !== 'boolean', ...(s.short === undefined ? {} : { short: s.short }) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: normalise(args, specs), options, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageFrom(e, specs);
  }
  const strings = new Map<string, string>();
  const lists = new Map<string, readonly string[]>();
  const booleans = new Set<string>();
  for (const s of specs) {
    const v = parsed.values[s.name];
    if (v === undefined) continue;
    if (s.kind === 'boolean') booleans.add(s.name);
    else if (Array.isArray(v)) {
      const values = v.filter((x): x is string => typeof x === 'string');
      if (s.kind === 'list') lists.set(s.name, values);
      else if (values.length > 0) strings.set(s.name, values.at(-1) as string);
    }
  }
  return { strings, lists, booleans, positionals: parsed.positionals };
}

/** parseArgs' error in docker's words: `unknown flag: --x`, `flag needs an argument: --tag`. */
function usageFrom(e: unknown, specs: readonly FlagSpec[]): unknown {
  const err = e as { code?: string; message?: string };
  const message = err.message ?? '';
  const flag = /'(-[^' ,]+)/.exec(message)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const name = flag.replace(/^--?/, '').replace(/=.*$/, '');
      const why = NOT_YET[name];
      if (why !== undefined) return new UsageError(`--${name} is not supported yet: ${why}`);
      return new UsageError(`unknown flag: ${flag}`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const long = /--([a-z-]+)/.exec(message)?.[1];
      return new UsageError(long !== undefined && specs.some((s) => s.name === long && s.kind === 'boolean')
        ? `flag --${long} takes no value`
        : `flag needs an argument: ${long === undefined ? flag : `--${long}`}`);
    }
    default:
      return e;
  }
}

/** The help lines of a flag table, aligned. */
export function flagHelp(specs: readonly FlagSpec[]): string {
  const left = (s: FlagSpec): string => `${s.short === undefined ? '    ' : `-${s.short}, `}--${s.name}${s.value === undefined ? '' : s.value.startsWith('[=') ? s.value : ` ${s.value}`}`;
  const width = Math.max(...specs.map((s) => left(s).length)) + 2;
  return specs.map((s) => {
    const [first = '', ...rest] = s.help.split('\n');
    return [`  ${left(s).padEnd(width)}${first}`, ...rest.map((l) => `  ${' '.repeat(width)}${l}`)].join('\n');
  }).join('\n');
}
