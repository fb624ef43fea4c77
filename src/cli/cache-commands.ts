/**
 * `keel du` and `keel prune`: the cache folder's contents by kind, and removing what is not
 * needed, with `docker builder prune`'s flags (`-a/--all`, `--keep-storage`, `--filter until=`).
 */
import { diskUsage, parseSize, prune, type CacheUsage, type PruneOptions, type PruneResult } from '../index.js';
import { parseFlags, type FlagSpec, type ParsedFlags } from './flags.js';
import { printable } from './printable.js';
import { humanSize } from './progress.js';
import { UsageError } from './usage-error.js';

export const DU_FLAGS: readonly FlagSpec[] = [
  { name: 'cache-dir', kind: 'string', value: 'DIR', help: 'the cache (default $KEEL_CACHE_DIR, else ~/.cache/keel)' },
  { name: 'verbose', short: 'v', kind: 'boolean', help: 'list every unit, least recently used first' },
  { name: 'help', short: 'h', kind: 'boolean', help: 'print this help' },
];

export const PRUNE_FLAGS: readonly FlagSpec[] = [
  { name: 'cache-dir', kind: 'string', value: 'DIR', help: 'the cache (default $KEEL_CACHE_DIR, else ~/.cache/keel)' },
  { name: 'all', short: 'a', kind: 'boolean', help: 'remove everything (without: leftovers only)' },
  { name: 'keep-storage', kind: 'string', value: 'SIZE', help: 'keep at most SIZE (e.g. 10GB), the least recently used going first' },
  { name: 'filter', kind: 'list', value: 'until=DURATION', help: 'only what was last used longer ago than DURATION (e.g. 24h)' },
  { name: 'force', short: 'f', kind: 'boolean', help: 'accepted for docker\'s sake: keel does not ask' },
  { name: 'help', short: 'h', kind: 'boolean', help: 'print this help' },
];

/** A Go duration (`24h`, `1h30m`, `90s`, `500ms`) in milliseconds, as docker's `--filter until=` takes it. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text.trim();
  if (rest === '') throw new UsageError('a duration is empty');
  while (rest !== '') {
    const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/.exec(rest);
    if (m === null) throw new UsageError(`not a duration: ${JSON.stringify(text)} (want e.g. 24h, 1h30m, 90s)`);
    total += Number(m[1]) * (units[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return total;
}

const age = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : s < 172_800 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86_400)}d ago`;
};

export function formatUsage(u: CacheUsage, verbose: boolean, now: number = Date.now()): string {
  const lines = [`Cache: ${printable(u.cacheDir)}`, ''];
  if (verbose) {
    lines.push(`${'LAST USED'.padEnd(10)} ${'SIZE'.padStart(9)}  ${'KIND'.padEnd(12)} PATH`);
    for (const unit of [...u.units].sort((a, b) => a.lastUsed - b.lastUsed)) {
      lines.push(`${age(now - unit.lastUsed).padEnd(10)} ${humanSize(unit.size).padStart(9)}  ${unit.kind.padEnd(12)} ${printable(unit.path)}`);
    }
    lines.push('');
  }
  lines.push(`${'KIND'.padEnd(14)} ${'COUNT'.padStart(6)} ${'SIZE'.padStart(10)}`);
  for (const [kind, k] of Object.entries(u.byKind)) lines.push(`${kind.padEnd(14)} ${String(k.count).padStart(6)} ${humanSize(k.size).padStart(10)}`);
  lines.push(`${'Total'.padEnd(14)} ${String(u.units.length).padStart(6)} ${humanSize(u.total).padStart(10)}`);
  return `${lines.join('\n')}\n`;
}

export function formatPruned(r: PruneResult): string {
  return `Removed ${r.removed.length} item(s), ${humanSize(r.freed)}; the cache keeps ${humanSize(r.kept)}\n`;
}

/** A cache command's flags, `--help` answered (undefined then), no positional argument taken; and its cache folder. */
function cacheCommandFlags(name: string, args: readonly string[], specs: readonly FlagSpec[], env: NodeJS.ProcessEnv, out: (s: string) => void, usage: string): { flags: ParsedFlags; cacheDir?: string } | undefined {
  const flags = parseFlags(args, specs);
  if (flags.booleans.has('help')) {
    out(usage);
    return undefined;
  }
  if (flags.positionals.length > 0) throw new UsageError(`keel ${name} takes no arguments, not ${flags.positionals.join(' ')}`);
  const cacheDir = flags.strings.get('cache-dir') ?? env.KEEL_CACHE_DIR;
  return { flags, ...(cacheDir === undefined ? {} : { cacheDir }) };
}

export async function duCommand(args: readonly string[], env: NodeJS.ProcessEnv, out: (s: string) => void, usage: string): Promise<number> {
  const c = cacheCommandFlags('du', args, DU_FLAGS, env, out, usage);
  if (c === undefined) return 0;
  out(formatUsage(await diskUsage(c.cacheDir === undefined ? {} : { cacheDir: c.cacheDir }), c.flags.booleans.has('verbose')));
  return 0;
}

export async function pruneCommand(args: readonly string[], env: NodeJS.ProcessEnv, out: (s: string) => void, usage: string): Promise<number> {
  const c = cacheCommandFlags('prune', args, PRUNE_FLAGS, env, out, usage);
  if (c === undefined) return 0;
  const { flags: f, cacheDir } = c;
  const keep = f.strings.get('keep-storage');
  let olderThanMs: number | undefined;
  for (const filter of f.lists.get('filter') ?? []) {
    const m = /^until=(.+)$/.exec(filter);
    if (m === null) throw new UsageError(`--filter ${filter}: keel filters by until=DURATION only`);
    olderThanMs = parseDuration(m[1] as string);
  }
  let keepBytes: number | undefined;
  if (keep !== undefined) {
    try {
      keepBytes = parseSize(keep);
    } catch {
      throw new UsageError(`--keep-storage: not a size: ${JSON.stringify(keep)} (want e.g. 10GB)`);
    }
  }
  const opts: PruneOptions = {
    ...(cacheDir === undefined ? {} : { cacheDir }),
    ...(f.booleans.has('all') ? { all: true } : {}),
    ...(keepBytes === undefined ? {} : { keepBytes }),
    ...(olderThanMs === undefined ? {} : { olderThanMs }),
  };
  out(formatPruned(await prune(opts)));
  return 0;
}
