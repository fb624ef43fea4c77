/**
 * The checks BuildKit runs as it dispatches a stage, with the stage's variables in scope
 * (convert.go dispatch*): UndefinedVar, LegacyKeyValueFormat, SecretsUsedInArgOrEnv,
 * WorkdirRelativePath, JSONArgsRecommended, MultipleInstructionsDisallowed, ExposeProtoCasing,
 * ExposeInvalidFormat, CopyIgnoredFile. A build dispatches only the stages its target needs.
 */
import { expandWordWithMatches, expandWords, parseMount, suggest, type CommandLine, type CopySource, type Instruction, type Range, type SyntaxNode } from '../parser/index.js';
import type { MetaArgs } from './args.js';
import type { CheckOptions } from './check.js';
import type { CheckConfig } from './config.js';
import type { Findings } from './findings.js';
import { MESSAGES } from './rules.js';
import type { From, Stage } from './stages.js';

// BuildKit's system.DefaultPathEnv for linux: what a scratch stage's PATH is
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
// variables BuildKit never puts in RUN's environment (convert.go nonEnvArgs)
const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);


/** A stage's variables and settings as its instructions are dispatched. */
export interface StageScope {
  readonly index: number;
  /** The state's environment: the base's ENV, then ENV and ARG values. */
  readonly env: Map<string, string>;
  /** False when the base is an image whose ENV is not known: a variable not found may still be set. */
  readonly envKnown: boolean;
  /** ARGs this stage declared so far (never undefined variables, with or without a value). */
  readonly declared: Set<string>;
  shell: readonly string[];
  workdirSet: boolean;
  cmd?: Range;
  entrypoint?: Range;
  healthcheck?: Range;
}

export function startScope(stage: Stage, index: number, stages: readonly Stage[], done: readonly StageScope[], globals: MetaArgs, escape: '\\' | '`', opts: CheckOptions): StageScope {
  let image: string;
  try {
    image = expandWordWithMatches(stage.from.image.value, globals.values, { escape }).result;
  } catch {
    image = stage.from.image.value;
  }
  const base = stages.findIndex((s, i) => i < index && s.from.name !== undefined && s.from.name === image.toLowerCase());
  const parent = base < 0 ? undefined : done[base];
  if (parent !== undefined) {
    return { index, env: new Map(parent.env), envKnown: parent.envKnown, declared: new Set(), shell: parent.shell, workdirSet: parent.workdirSet };
  }
  if (image.toLowerCase() === 'scratch') return { index, env: new Map([['PATH', DEFAULT_PATH]]), envKnown: true, declared: new Set(), shell: [], workdirSet: false };
  const info = opts.baseImage?.(image, index);
  const env = new Map((info?.env ?? []).map((kv) => {
    const eq = kv.indexOf('=');
    return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
  }));
  return { index, env, envKnown: info !== undefined, declared: new Set(), shell: info?.shell ?? [], workdirSet: false };
}

const SECRET = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const NOT_SECRET = /(?:_|^)(?:public|file|version)(?:_|$)/i;

function secretKey(out: Findings, config: CheckConfig, instruction: 'ARG' | 'ENV', key: string, range: Range, stage: number): void {
  if (SECRET.test(key) && !NOT_SECRET.test(key)) out.add(config, 'SecretsUsedInArgOrEnv', MESSAGES.SecretsUsedInArgOrEnv(instruction, key), range, stage);
}

export function dispatchChecks(
  out: Findings, config: CheckConfig, scope: StageScope, ins: Exclude<Instruction, From>, globals: MetaArgs, escape: '\\' | '`', opts: CheckOptions,
): void {
  const stage = scope.index;
  // a word expanded with the stage's variables; the ones not found are reported (reportUnmatchedVariables).
  // On a base whose ENV is not known, a variable not found may be the base's: nothing is reported,
  // and the value is undefined (not to be judged)
  const expanded = (word: string, raw = false): string | undefined => {
    let m: ReturnType<typeof expandWordWithMatches>;
    try {
      m = expandWordWithMatches(word, scope.env, raw ? { escape: '\\', skipProcessQuotes: true } : { escape });
    } catch {
      return undefined;
    }
    const missing = [...m.unmatched].filter((name) => !scope.declared.has(name) && !NON_ENV_ARGS.has(name));
    if (!scope.envKnown) return missing.length === 0 ? m.result : undefined;
    for (const name of missing) out.add(config, 'UndefinedVar', MESSAGES.UndefinedVar(name, suggest(name, [...scope.env.keys()], true)), ins.range, stage);
    return m.result;
  };
  const expand = (word: string, raw = false): void => void expanded(word, raw);
  switch (ins.kind) {
    case 'ARG':
      for (const d of ins.declarations) {
        secretKey(out, config, 'ARG', d.name, ins.range, stage);
        const given = opts.buildArgs !== undefined && Object.hasOwn(opts.buildArgs, d.name) ? opts.buildArgs[d.name] : undefined;
        const value = given ?? (d.default !== undefined ? expanded(d.default) ?? '' : globals.values.get(d.name));
        if (value !== undefined && !NON_ENV_ARGS.has(d.name)) scope.env.set(d.name, value);
        scope.declared.add(d.name);
      }
      return;
    case 'ENV': {
      const set = ins.pairs.map((p) => [expanded(p.key.value), expanded(p.value.value) ?? ''] as const);
      for (const p of ins.pairs) {
        if (p.legacy) out.add(config, 'LegacyKeyValueFormat', MESSAGES.LegacyKeyValueFormat(ins.keyword.value), ins.range, stage);
      }
      for (const [key, value] of set) {
        if (key === undefined) continue;
        secretKey(out, config, 'ENV', key, ins.range, stage);
        scope.env.set(key, value);
      }
      return;
    }
    case 'LABEL':
      for (const p of ins.pairs) {
        expand(p.key.value);
        expand(p.value.value);
        if (p.legacy) out.add(config, 'LegacyKeyValueFormat', MESSAGES.LegacyKeyValueFormat(ins.keyword.value), ins.range, stage);
      }
      return;
    case 'COPY':
    case 'ADD': {
      if (ins.chown !== undefined) expand(ins.chown);
      if (ins.chmod !== undefined) expand(ins.chmod);
      if (ins.kind === 'ADD' && ins.checksum !== undefined) expand(ins.checksum);
      const paths = ins.sources.filter((s): s is Extract<CopySource, { kind: 'path' }> => s.kind === 'path').map((s) => expanded(s.path.value));
      for (const s of ins.sources) if (s.kind === 'heredoc' && s.heredoc.expand) expand(s.heredoc.content, true);
      expand(ins.dest.value);
      if (ins.kind === 'ADD' || ins.from === undefined) {
        for (const p of paths) if (p !== undefined && !/^https?:\/\//.test(p)) copyIgnored(out, config, ins.kind === 'ADD' ? 'Add' : 'Copy', p, ins.range, stage, opts);
      }
      return;
    }
    case 'WORKDIR': {
      const path = expanded(ins.path.value);
      if (!scope.workdirSet && path !== undefined && !path.startsWith('/')) out.add(config, 'WorkdirRelativePath', MESSAGES.WorkdirRelativePath(path), ins.range, stage);
      scope.workdirSet = true;
      return;
    }
    case 'USER':
      expand(ins.user.value);
      return;
    case 'VOLUME':
      for (const v of ins.volumes) expand(v.value);
      return;
    case 'STOPSIGNAL':
      expand(ins.signal.value);
      return;
    case 'RUN':
      for (const m of ins.mounts) {
        try {
          parseMount(m.value, (w) => expanded(w) ?? w);
        } catch {
          // a bad mount is the build's error
        }
      }
      return;
    case 'SHELL':
      scope.shell = ins.shell.map((w) => w.value);
      return;
    case 'CMD':
    case 'ENTRYPOINT':
      usedOnce(out, config, scope, ins.kind === 'CMD' ? 'cmd' : 'entrypoint', ins, stage);
      if (isShellForm(ins.command) && scope.shell.length === 0) out.add(config, 'JSONArgsRecommended', MESSAGES.JSONArgsRecommended(ins.keyword.value), ins.range, stage);
      return;
    case 'HEALTHCHECK':
      usedOnce(out, config, scope, 'healthcheck', ins, stage);
      return;
    case 'EXPOSE':
      for (const word of ins.ports) {
        let ports: string[];
        try {
          if (!scope.envKnown && expandWordWithMatches(word.value, scope.env, { escape }).unmatched.size > 0) continue;
          ports = expandWords(word.value, scope.env, { escape });
        } catch {
          continue;
        }
        for (const port of ports) exposeChecks(out, config, port, ins.range, stage);
      }
      return;
    case 'MAINTAINER':
    case 'ONBUILD':
      return;
  }
}

const isShellForm = (c: CommandLine): boolean => c.form === 'shell';

/** MultipleInstructionsDisallowed: the earlier one of two in a stage is the one that is ignored, and reported. */
function usedOnce(out: Findings, config: CheckConfig, scope: StageScope, slot: 'cmd' | 'entrypoint' | 'healthcheck', ins: SyntaxNode, stage: number): void {
  const earlier = scope[slot];
  if (earlier !== undefined) out.add(config, 'MultipleInstructionsDisallowed', MESSAGES.MultipleInstructionsDisallowed(ins.keyword.value), earlier, stage);
  scope[slot] = ins.range;
}

/** ExposeProtoCasing and ExposeInvalidFormat on one port spec, `[ip:][hostPort:]port[/proto]` (convert_expose.go). */
function exposeChecks(out: Findings, config: CheckConfig, raw: string, range: Range, stage: number): void {
  const parts = raw.split(':');
  const n = parts.length;
  const [ip, hostPort, containerPort] = n === 1 ? ['', '', parts[0] as string] : n === 2 ? ['', parts[0] as string, parts[1] as string] : [parts.slice(0, n - 2).join(':'), parts[n - 2] as string, parts[n - 1] as string];
  const slash = containerPort.indexOf('/');
  const port = slash < 0 ? containerPort : containerPort.slice(0, slash);
  const proto = slash < 0 ? '' : containerPort.slice(slash + 1);
  if (port === '' || !['', 'tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) return; // an invalid port: the build's error
  if (proto !== proto.toLowerCase()) out.add(config, 'ExposeProtoCasing', MESSAGES.ExposeProtoCasing(raw), range, stage);
  if (ip !== '' || hostPort !== '') out.add(config, 'ExposeInvalidFormat', MESSAGES.ExposeInvalidFormat(raw), range, stage);
}

/**
 * CopyIgnoredFile (validations.go validateCopySourcePath): a source the .dockerignore excludes. Not
 * checked where the .dockerignore has exceptions (`!`): a folder excluded with a file inside let
 * back in cannot be judged from the patterns. The context's root is reported only under a pattern
 * that excludes everything (`*`, `**`, `**\/*`).
 */
function copyIgnored(out: Findings, config: CheckConfig, command: 'Copy' | 'Add', source: string, range: Range, stage: number, opts: CheckOptions): void {
  const ignore = opts.dockerignore;
  if (ignore === undefined || ignore.patterns.some((p) => p.trim().startsWith('!'))) return;
  const src = cleanPath(source);
  if ((src === '.' || src === '/') && !ignore.patterns.some((p) => ['*', '**', '**/*'].includes(p.trim()))) return;
  const rel = src === '/' ? '.' : src.replace(/^\/+/, '');
  if (ignore.excludes(rel)) out.add(config, 'CopyIgnoredFile', MESSAGES.CopyIgnoredFile(command, src), range, stage);
}

/** Go's filepath.Clean for slash paths. */
function cleanPath(p: string): string {
  const abs = p.startsWith('/');
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length > 0 && parts.at(-1) !== '..') parts.pop();
      else if (!abs) parts.push('..');
      continue;
    }
    parts.push(seg);
  }
  const joined = parts.join('/');
  return abs ? `/${joined}` : joined === '' ? '.' : joined;
}
