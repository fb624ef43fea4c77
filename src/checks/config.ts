/**
 * Which checks run, and whether a finding fails the build: BuildKit's linter configuration
 * (frontend/dockerfile/linter/linter.go). It comes from the `# check=` directive, or replacing it
 * the BUILDKIT_DOCKERFILE_CHECK build arg (keel's `checks` option); a `# check=` comment directly
 * above an instruction adds to it for that instruction alone (WithMergedConfigFromComments).
 */
import { KeelError } from '../errors.js';
import { RULES, type RuleName } from './rules.js';

export interface CheckConfig {
  readonly skipAll: boolean;
  readonly skip: ReadonlySet<string>;
  readonly experimentalAll: boolean;
  readonly experimental: ReadonlySet<string>;
  /** `error=true`: findings fail the build. */
  readonly error: boolean;
}

export const DEFAULT_CHECK_CONFIG: CheckConfig = { skipAll: false, skip: new Set(), experimentalAll: false, experimental: new Set(), error: false };

/** Go's strconv.ParseBool. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

const names = (v: string): Set<string> => new Set(v.split(',').map((r) => r.trim()));

/** `skip=a,b;experimental=all;error=true` as ParseLintOptions reads it; E_CHECK with its words otherwise. */
export function parseCheckOptions(text: string): CheckConfig {
  const s = text.trim();
  if (s === '') return DEFAULT_CHECK_CONFIG;
  // strings.SplitN(s, ";", 3): a third part keeps any further semicolons
  const first = s.indexOf(';');
  const second = first < 0 ? -1 : s.indexOf(';', first + 1);
  const parts = first < 0 ? [s] : second < 0 ? [s.slice(0, first), s.slice(first + 1)] : [s.slice(0, first), s.slice(first + 1, second), s.slice(second + 1)];
  let config = { ...DEFAULT_CHECK_CONFIG };
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) throw new KeelError('E_CHECK', `invalid check option ${JSON.stringify(p)}`);
    const key = p.slice(0, eq).trim();
    const value = p.slice(eq + 1).trim();
    switch (key) {
      case 'skip':
        config = value === 'all' ? { ...config, skipAll: true } : { ...config, skip: names(value) };
        break;
      case 'experimental':
        config = value === 'all' ? { ...config, experimentalAll: true } : { ...config, experimental: names(value) };
        break;
      case 'error': {
        const b = parseBool(value);
        if (b === undefined) throw new KeelError('E_CHECK', `failed to parse check option ${JSON.stringify(p)}: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
        config = { ...config, error: b };
        break;
      }
      default:
        throw new KeelError('E_CHECK', `invalid check option ${JSON.stringify(key)}`);
    }
  }
  return config;
}

/** `other` added to `base` (WithMergedConfig): skips and experimental rules join, `all` and error only switch on. */
export function mergeConfig(base: CheckConfig, other: CheckConfig): CheckConfig {
  return {
    skipAll: base.skipAll || other.skipAll,
    skip: new Set([...base.skip, ...other.skip]),
    experimentalAll: base.experimentalAll || other.experimentalAll,
    experimental: new Set([...base.experimental, ...other.experimental]),
    error: base.error,
  };
}

// a directive line as BuildKit's DirectiveParser reads one, the comment character already gone
const DIRECTIVE = /^[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;

/**
 * The configuration for one instruction: the first `check=` comment directly above it merged in
 * (its value up to the first space, so `check=skip=all // why` reads `skip=all`); an unreadable
 * one changes nothing.
 */
export function configForComments(base: CheckConfig, comments: readonly string[]): CheckConfig {
  for (const comment of comments) {
    const m = DIRECTIVE.exec(comment);
    if (m === null || (m[1] as string).toLowerCase() !== 'check') continue;
    const value = (m[2] as string).split(' ')[0] as string;
    try {
      return mergeConfig(base, parseCheckOptions(value));
    } catch {
      return base;
    }
  }
  return base;
}

/** Whether `rule` runs under `config` (Linter.Run): experimental rules only when asked for, others unless skipped. */
export function ruleEnabled(config: CheckConfig, rule: RuleName): boolean {
  if (RULES[rule].experimental === true) return config.experimentalAll || config.experimental.has(rule);
  return !config.skipAll && !config.skip.has(rule);
}
