/**
 * checkDockerfile(): BuildKit's build checks on a Dockerfile in its context, as `docker build
 * --check` runs them: every stage, the context's .dockerignore (`<Dockerfile>.dockerignore` first)
 * for CopyIgnoredFile, the build args, and the `checks` option over the `# check=` directive. The
 * images FROM names are not pulled: their variables are not judged (see check()).
 */
import { check, type CheckResult } from '../checks/index.js';
import { parsePlatform, type Platform } from '../image/index.js';
import { parse, type ParseError } from '../parser/index.js';
import { ignorePatterns } from './context.js';
import { readDockerfileText } from './dockerfile-file.js';
import { PatternMatcher } from './ignore.js';

export interface CheckDockerfileOptions {
  /** The context folder. */
  readonly context: string;
  /** A path relative to the context (or absolute), or the text. @default 'Dockerfile' */
  readonly dockerfile?: string | { readonly text: string };
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** `skip=…;experimental=…;error=true`: replaces the Dockerfile's `# check=` directive. */
  readonly checks?: string;
  /** The target platform, for TARGETPLATFORM and the like. @default linux/amd64 */
  readonly platform?: string;
}

export interface DockerfileCheck extends CheckResult {
  /** The Dockerfile's name as messages give it, and its text (for excerpts). */
  readonly filename: string;
  readonly text: string;
  /** What keeps the Dockerfile from building at all (its findings before them are still given). */
  readonly parseErrors: readonly ParseError[];
}

export async function checkDockerfile(opts: CheckDockerfileOptions): Promise<DockerfileCheck> {
  const { text, filename, path } = await readDockerfileText(opts.context, opts.dockerfile);
  const ast = parse(text, { filename, recover: true });
  const patterns = await ignorePatterns(opts.context, path);
  const matcher = new PatternMatcher(patterns);
  const platform: Platform | undefined = opts.platform === undefined ? undefined : parsePlatform(opts.platform);
  const result = check(ast, {
    ...(opts.buildArgs === undefined ? {} : { buildArgs: opts.buildArgs }),
    ...(opts.checks === undefined ? {} : { checks: opts.checks }),
    ...(platform === undefined ? {} : { platform }),
    ...(patterns.length === 0 ? {} : { dockerignore: { patterns, excludes: (p: string) => matcher.matches(p) } }),
  });
  return { ...result, filename, text, parseErrors: ast.errors };
}
