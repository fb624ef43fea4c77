/**
 * `keel check` (and `keel build --check`): BuildKit's build checks on a Dockerfile, printed as
 * `docker build --check` prints them (buildx's printResult, BuildKit's lint.Warning.PrintTo): a
 * count line, then each finding as `WARNING: Rule - URL`, its message and the Dockerfile's lines
 * around it. `--format json` gives the findings to tools. Exit 1 when the checks are errors
 * (`# check=error=true`), 2 when the Dockerfile does not parse.
 */
import { resolve } from 'node:path';
import { checkDockerfile, type DockerfileCheck, type Finding } from '../index.js';
import { sourceExcerpt } from './excerpt.js';
import { buildArgs } from './build-command.js';
import { parseFlags, type FlagSpec } from './flags.js';
import { printable } from './printable.js';
import { UsageError } from './usage-error.js';

export const CHECK_FLAGS: readonly FlagSpec[] = [
  { name: 'file', short: 'f', kind: 'string', value: 'FILE', help: 'the Dockerfile, from the current folder (default: CONTEXT/Dockerfile)' },
  { name: 'format', kind: 'string', value: 'FORMAT', help: 'text (as docker build --check prints), or json' },
  { name: 'build-arg', kind: 'list', value: 'KEY[=VALUE]', help: 'a build-time variable (BUILDKIT_DOCKERFILE_CHECK sets the checks)' },
  { name: 'platform', kind: 'string', value: 'OS/ARCH[/VARIANT]', help: 'the target platform (TARGETPLATFORM)' },
  { name: 'help', short: 'h', kind: 'boolean', help: 'print this help' },
];

export type CheckFormat = 'text' | 'json';

export interface CheckRequest {
  readonly context: string;
  /** A path, or the text (read from stdin). */
  readonly dockerfile?: string | { readonly text: string };
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly platform?: string;
  readonly format: CheckFormat;
}

/** `keel check`'s command line; undefined when it asked for help (printed). */
export function parseCheckCommand(args: readonly string[], env: NodeJS.ProcessEnv, cwd: string, out: (s: string) => void, usage: string): CheckRequest | undefined {
  const flags = parseFlags(args, CHECK_FLAGS);
  if (flags.booleans.has('help')) {
    out(usage);
    return undefined;
  }
  if (flags.positionals.length > 1) throw new UsageError(`keel check takes one CONTEXT, not ${flags.positionals.join(' ')}`);
  const format = flags.strings.get('format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`--format is text or json, not ${JSON.stringify(format)}`);
  const file = flags.strings.get('file');
  const platform = flags.strings.get('platform');
  return {
    context: flags.positionals[0] ?? '.',
    ...(file === undefined ? {} : { dockerfile: resolve(cwd, file) }),
    buildArgs: buildArgs(flags.lists.get('build-arg') ?? [], env),
    ...(platform === undefined ? {} : { platform }),
    format,
  };
}


/** Run the checks and print them; the exit status. */
export async function runChecks(req: CheckRequest, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const result = await checkDockerfile({
    context: req.context,
    ...(req.dockerfile === undefined ? {} : { dockerfile: req.dockerfile }),
    buildArgs: req.buildArgs,
    ...(req.platform === undefined ? {} : { platform: req.platform }),
  });
  out(req.format === 'json' ? findingsJson(result) : findingsText(result));
  for (const e of result.parseErrors) err(`${printable(e.format())}\n`);
  if (result.error !== undefined) err(`ERROR: ${result.error}\n`);
  return result.parseErrors.length > 0 ? 2 : result.error !== undefined ? 1 : 0;
}

/** As `docker build --check` prints: the count, then each finding with its excerpt. */
export function findingsText(r: Pick<DockerfileCheck, 'findings' | 'filename' | 'text'>): string {
  const n = r.findings.length;
  let text = n === 0 ? 'Check complete, no warnings found.\n' : `Check complete, ${n === 1 ? '1 warning has' : `${n} warnings have`} been found!\n`;
  for (const f of r.findings) {
    text += `\nWARNING: ${f.rule}${f.url === undefined ? '' : ` - ${f.url}`}\n${printable(f.message)}\n`;
    text += sourceExcerpt(r.text, r.filename, f.range.start.line, f.range.end.line) ?? '';
  }
  return text;
}

/** The findings for tools: rule, message, description, URL, level, range (1-based lines and columns), stage. */
export function findingsJson(r: Pick<DockerfileCheck, 'findings' | 'filename' | 'error' | 'parseErrors'>): string {
  const finding = (f: Finding): unknown => ({
    rule: f.rule, message: f.message, description: f.description, ...(f.url === undefined ? {} : { url: f.url }), level: f.level,
    file: r.filename, range: f.range, ...(f.stage === undefined ? {} : { stage: f.stage }),
  });
  return `${JSON.stringify({
    findings: r.findings.map(finding),
    ...(r.error === undefined ? {} : { error: r.error }),
    ...(r.parseErrors.length === 0 ? {} : { parseErrors: r.parseErrors.map((e) => ({ code: e.code, message: e.message, range: e.range })) }),
  }, null, 2)}\n`;
}
