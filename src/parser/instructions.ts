/**
 * SyntaxNode to typed Instruction, with BuildKit's instruction-level checks and messages
 * (frontend/dockerfile/instructions/parse.go). The order of checks within each instruction follows
 * parse.go, so the first error reported is the one BuildKit reports. Words stay unexpanded.
 */
import type {
  ArgDeclaration, CommandLine, CopySource, DeviceRequest, Flag, Healthcheck, Heredoc, Instruction,
  InstructionKind, KeyValue, MountFlag, NetworkMode, SecurityMode, SyntaxNode, Word,
} from './ast.js';
import { INSTRUCTION_KINDS, instructionKind } from './ast.js';
import { FlagSpecs, InstructionFailure, parseFlags } from './flags.js';
import { goQuote, goTrimSpace, withSuggestion } from './go-text.js';
import { parseHeredocWord } from './heredoc.js';
import { MountError, checkMountFlag, csvFields, goParseBool } from './mount.js';
import { parseGoDuration } from './duration.js';

const fail = (code: InstructionFailure['code'], message: string, at?: { range: Word['range'] }): never => {
  throw new InstructionFailure(code, message, at?.range);
};
// The flags each instruction accepts (instructions/parse.go and the RUN hooks), in BuildKit's order.
const NO_FLAGS: FlagSpecs = {};
const FROM_FLAGS: FlagSpecs = { platform: 'string' };
const COPY_FLAGS: FlagSpecs = { chown: 'string', from: 'string', chmod: 'string', link: 'bool', exclude: 'strings', parents: 'bool' };
const ADD_FLAGS: FlagSpecs = {
  chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', unpack: 'bool', exclude: 'strings',
};
const RUN_FLAGS: FlagSpecs = { device: 'strings', mount: 'strings', network: 'string', security: 'string' };
const HEALTHCHECK_FLAGS: FlagSpecs = {
  interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string',
};

const atLeastOne = (kind: string): string => `${kind} requires at least one argument`;
const exactlyOne = (kind: string): string => `${kind} requires exactly one argument`;

/** BuildKit nodeArgs: the argument values, with an ONBUILD trigger flattened in. */
function nodeArgs(node: SyntaxNode): string[] {
  if (node.trigger !== undefined) return [node.trigger.keyword.value, ...nodeArgs(node.trigger)];
  return node.args.map((a) => a.value);
}

/** The Instruction for a node, or an InstructionFailure saying what BuildKit rejects. */
export function toInstruction(node: SyntaxNode, comments: readonly string[]): Instruction {
  const kind = instructionKind(node.keyword.value);
  if (kind === undefined) {
    return fail(
      'E_UNKNOWN_INSTRUCTION',
      withSuggestion(`unknown instruction: ${node.keyword.value}`, node.keyword.value, INSTRUCTION_KINDS, false),
      node.keyword,
    );
  }
  const args = node.args;
  // `node` is a fresh object owned by the parser: the typed fields are added to it in place
  // (one object per instruction instead of copies; this halves the parser's allocations).
  const base = node as SyntaxNode & { comments: readonly string[] };
  (base as { comments: readonly string[] }).comments = comments;

  switch (kind) {
    case 'FROM': {
      const values = nodeArgs(node);
      let name: string | undefined;
      if (values.length === 3 && /^[aA][sSſ]$/.test(values[1] as string)) {
        name = (values[2] as string).toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(name)) {
          fail('E_VALUE', `invalid name for build stage: ${goQuote(values[2] as string)}, name can't start with a number or contain symbols`, args[2]);
        }
      } else if (values.length !== 1) {
        fail('E_ARGUMENTS', 'FROM requires either one or three arguments', node);
      }
      const platform = parseFlags(node.flags, FROM_FLAGS).string('platform');
      const description = name === undefined ? undefined : docComment(comments, name);
      return extend(base, { kind: 'FROM', image: args[0] as Word,
        ...(name === undefined ? {} : { stageName: args[2] as Word, name }),
        ...(platform === undefined ? {} : { platform }),
        ...(description === undefined ? {} : { description }),
      });
    }
    case 'ENV':
    case 'LABEL': {
      parseFlags(node.flags, NO_FLAGS);
      return extend(base, { kind, pairs: keyValues(args, kind, node) });
    }
    case 'MAINTAINER':
      if (args.length !== 1) fail('E_ARGUMENTS', exactlyOne('MAINTAINER'), node);
      parseFlags(node.flags, NO_FLAGS);
      return extend(base, { kind: 'MAINTAINER', maintainer: args[0] as Word });
    case 'ADD':
    case 'COPY':
      return copyOrAdd(node, base, kind);
    case 'ONBUILD': {
      if (node.trigger === undefined) return fail('E_ARGUMENTS', atLeastOne('ONBUILD'), node);
      parseFlags(node.flags, NO_FLAGS);
      const trigger = goTrimSpace(node.trigger.keyword.value).toUpperCase();
      if (trigger === 'ONBUILD') fail('E_VALUE', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', node.trigger.keyword);
      if (trigger === 'MAINTAINER' || trigger === 'FROM') fail('E_VALUE', `${trigger} isn't allowed as an ONBUILD trigger`, node.trigger.keyword);
      let expression = node.original.replace(/^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*/i, '');
      for (const h of node.heredocs) expression += '\n' + h.content + h.name;
      return extend(base, { kind: 'ONBUILD', trigger: node.trigger, expression });
    }
    case 'WORKDIR':
      if (args.length !== 1) fail('E_ARGUMENTS', exactlyOne('WORKDIR'), node);
      parseFlags(node.flags, NO_FLAGS);
      return extend(base, { kind: 'WORKDIR', path: args[0] as Word });
    case 'RUN':
      return run(node, base);
    case 'CMD':
    case 'ENTRYPOINT':
      parseFlags(node.flags, NO_FLAGS);
      return extend(base, { kind, command: commandLine(node) });
    case 'HEALTHCHECK':
      return extend(base, { kind: 'HEALTHCHECK', healthcheck: healthcheck(node) });
    case 'EXPOSE':
      if (args.length === 0) fail('E_ARGUMENTS', atLeastOne('EXPOSE'), node);
      parseFlags(node.flags, NO_FLAGS);
      return extend(base, { kind: 'EXPOSE', ports: args });
    case 'USER':
      if (args.length !== 1) fail('E_ARGUMENTS', exactlyOne('USER'), node);
      parseFlags(node.flags, NO_FLAGS);
      return extend(base, { kind: 'USER', user: args[0] as Word });
    case 'VOLUME': {
      if (args.length === 0) fail('E_ARGUMENTS', atLeastOne('VOLUME'), node);
      parseFlags(node.flags, NO_FLAGS);
      const volumes = args.map((a) => {
        const v = goTrimSpace(a.value);
        if (v === '') fail('E_VALUE', 'VOLUME specified can not be an empty string', a);
        return { value: v, range: a.range };
      });
      return extend(base, { kind: 'VOLUME', volumes });
    }
    case 'STOPSIGNAL':
      // BuildKit does not validate STOPSIGNAL's flags at all
      if (args.length !== 1) fail('E_ARGUMENTS', exactlyOne('STOPSIGNAL'), node);
      return extend(base, { kind: 'STOPSIGNAL', signal: args[0] as Word });
    case 'ARG':
      // BuildKit does not validate ARG's flags at all
      if (args.length === 0) fail('E_ARGUMENTS', atLeastOne('ARG'), node);
      return extend(base, { kind: 'ARG', declarations: args.map((a) => argDeclaration(a, comments)) });
    case 'SHELL': {
      parseFlags(node.flags, NO_FLAGS);
      if (args.length === 0) fail('E_ARGUMENTS', atLeastOne('SHELL'), node);
      if (!node.json) fail('E_VALUE', 'SHELL requires the arguments to be in JSON form', node);
      return extend(base, { kind: 'SHELL', shell: args });
    }
  }
}

type Base = SyntaxNode & { comments: readonly string[] };

/** Add the typed fields to the node object itself (literal `kind` types kept for the union). */
function extend<const T extends { readonly kind: InstructionKind }>(base: Base, fields: T): Base & T {
  return Object.assign(base, fields);
}

function keyValues(args: readonly Word[], kind: 'ENV' | 'LABEL', node: SyntaxNode): KeyValue[] {
  if (args.length === 0) fail('E_ARGUMENTS', atLeastOne(kind), node);
  const pairs: KeyValue[] = [];
  for (let i = 0; i + 2 < args.length; i += 3) {
    const key = args[i] as Word;
    if (key.value === '') fail('E_VALUE', `${kind} names can not be blank`, key);
    pairs.push({ key, value: args[i + 1] as Word, legacy: (args[i + 2] as Word).value === '' });
  }
  return pairs;
}

function argDeclaration(word: Word, comments: readonly string[]): ArgDeclaration {
  const eq = word.value.indexOf('=');
  const name = eq < 0 ? word.value : word.value.slice(0, eq);
  if (eq === 0) fail('E_VALUE', 'ARG names can not be blank', word);
  const description = docComment(comments, name);
  return {
    name,
    word,
    ...(eq < 0 ? {} : { default: word.value.slice(eq + 1) }),
    ...(description === undefined ? {} : { description }),
  };
}

/** BuildKit getDocComment: the text after `<name> ` in a comment above the instruction. */
function docComment(comments: readonly string[], name: string): string | undefined {
  if (name === '') return undefined;
  for (const line of comments) if (line.startsWith(name + ' ')) return line.slice(name.length + 1);
  return undefined;
}

function commandLine(node: SyntaxNode): CommandLine {
  if (node.json) return { form: 'exec', args: node.args };
  const [first] = node.args;
  // shell form has one argument (the rest of the line); none for a bare `CMD`
  if (first === undefined) return { form: 'shell', script: '', range: { start: node.range.end, end: node.range.end } };
  return { form: 'shell', script: first.value, range: first.range };
}

/** The instruction's flags called `name` (validated already), in order. */
function flagsNamed(node: SyntaxNode, name: string): readonly Flag[] {
  return node.flags.length === 0 ? node.flags : node.flags.filter((f) => f.name === name);
}

function copyOrAdd(node: SyntaxNode, base: SyntaxNode & { comments: readonly string[] }, kind: 'COPY' | 'ADD'): Instruction {
  const args = node.args;
  if (args.length < 2) {
    fail('E_ARGUMENTS', `${kind} requires at least two arguments, but only one was provided. Destination could not be determined`, node);
  }
  const f = kind === 'COPY'
    ? parseFlags(node.flags, COPY_FLAGS)
    : parseFlags(node.flags, ADD_FLAGS);
  const dest = args[args.length - 1] as Word;
  if (parseHeredocWordSafe(dest.value) !== undefined) fail('E_VALUE', `${kind} cannot accept a heredoc as a destination`, dest);
  const sources: CopySource[] = args.slice(0, -1).map((word) => {
    const h = parseHeredocWordSafe(word.value);
    if (h === undefined) return { kind: 'path', path: word };
    const body = node.heredocs.find((d) => d.name === h.name);
    // BuildKit quirk: a heredoc word without a body (JSON form) is an empty file
    const heredoc: Heredoc = { ...h, content: body?.content ?? '', range: body?.range ?? word.range };
    return { kind: 'heredoc', word, heredoc };
  });
  // one object with a fixed set of keys (absent values are undefined): cheaper than spreads
  const common = {
    sources,
    dest,
    link: f.bool('link') ?? false,
    exclude: f.strings('exclude'),
    chown: f.string('chown') || undefined,
    chmod: f.string('chmod') || undefined,
  };
  if (kind === 'COPY') {
    return extend(base, { kind, ...common, parents: f.bool('parents') ?? false, from: f.string('from') || undefined });
  }
  return extend(base, {
    kind,
    ...common,
    keepGitDir: f.bool('keep-git-dir'),
    checksum: f.string('checksum') || undefined,
    unpack: f.bool('unpack'),
  });
}

function parseHeredocWordSafe(word: string): ReturnType<typeof parseHeredocWord> {
  try {
    return parseHeredocWord(word); // BuildKit's MustParseHeredoc drops the error
  } catch {
    return undefined;
  }
}

function run(node: SyntaxNode, base: SyntaxNode & { comments: readonly string[] }): Instruction {
  const f = parseFlags(node.flags, RUN_FLAGS);
  const command = commandLine(node);
  const devices: DeviceRequest[] = flagsNamed(node, 'device').map((flag) => {
    try {
      return parseDevice(flag.value ?? '');
    } catch (e) {
      if (e instanceof MountError) throw new InstructionFailure('E_VALUE', e.message, flag.range);
      throw e;
    }
  });
  const mounts: MountFlag[] = flagsNamed(node, 'mount').map((flag) => {
    const value = flag.value ?? '';
    try {
      checkMountFlag(value);
    } catch (e) {
      if (e instanceof MountError) throw new InstructionFailure('E_VALUE', e.message, flag.range);
      throw e;
    }
    return { value, range: flag.range };
  });
  const flagRange = (name: string) => ({ range: flagsNamed(node, name)[0]?.range ?? node.range });
  const network = f.string('network') ?? 'default';
  if (network !== 'default' && network !== 'none' && network !== 'host') {
    fail('E_VALUE', `invalid network mode ${goQuote(network)}`, flagRange('network'));
  }
  const security = f.string('security') ?? 'sandbox';
  if (security !== 'sandbox' && security !== 'insecure') {
    fail('E_VALUE', `security ${goQuote(security)} is not valid`, flagRange('security'));
  }
  return extend(base, { kind: 'RUN', command, mounts, devices,
    network: network as NetworkMode,
    security: security as SecurityMode,
  });
}

/** BuildKit ParseDevice (`RUN --device=name[,required]`). */
function parseDevice(value: string): DeviceRequest {
  let name = '';
  let required = false;
  for (const field of csvFields(value, 'devices')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'required') required = true;
      else if (name === '') name = field;
      else throw new MountError(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    const v = field.slice(eq + 1);
    if (key === 'name') {
      if (name !== '') throw new MountError(`device name already set to ${name}`);
      name = v;
    } else if (key === 'required') {
      required = goParseBool(key, v);
    } else if (name === '') {
      name = field;
    } else {
      throw new MountError(withSuggestion(`unexpected key '${key}' in '${field}'`, key, ['name', 'required'], true));
    }
  }
  return { name, required };
}

function healthcheck(node: SyntaxNode): Healthcheck {
  const args = node.args;
  if (args.length === 0) fail('E_ARGUMENTS', atLeastOne('HEALTHCHECK'), node);
  const type = (args[0] as Word).value.toUpperCase();
  const rest = args.slice(1);
  if (type === 'NONE') {
    if (rest.length !== 0) fail('E_ARGUMENTS', 'HEALTHCHECK NONE takes no arguments', node);
    return { type: 'NONE' };
  }
  const f = parseFlags(node.flags, HEALTHCHECK_FLAGS);
  if (type !== 'CMD') fail('E_VALUE', `Unknown type ${goQuote(type)} in HEALTHCHECK (try CMD)`, args[0]);
  if (rest.length === 0) fail('E_ARGUMENTS', 'Missing command after HEALTHCHECK CMD', node);
  const test = node.json ? ['CMD', ...rest.map((a) => a.value)] : ['CMD-SHELL', rest.map((a) => a.value).join(' ')];
  const flagAt = (name: string) => ({ range: node.flags.find((x) => x.name === name)?.range ?? node.range });
  const interval = (name: string): number => {
    const s = f.string(name) ?? '';
    if (s === '') return 0;
    const d = parseGoDuration(s);
    if (typeof d === 'string') return fail('E_VALUE', d, flagAt(name));
    if (d !== 0 && d < 1_000_000) fail('E_VALUE', `Interval ${goQuote(name)} cannot be less than 1ms`, flagAt(name));
    return d;
  };
  const result = {
    type: 'CMD' as const,
    test,
    interval: interval('interval'),
    timeout: interval('timeout'),
    startPeriod: interval('start-period'),
    startInterval: interval('start-interval'),
    retries: 0,
  };
  const retries = f.string('retries') ?? '';
  if (retries !== '') {
    if (!/^[+-]?[0-9]+$/.test(retries)) fail('E_VALUE', `strconv.ParseInt: parsing ${goQuote(retries)}: invalid syntax`, flagAt('retries'));
    const n = Number(retries);
    if (n > 2147483647 || n < -2147483648) fail('E_VALUE', `strconv.ParseInt: parsing ${goQuote(retries)}: value out of range`, flagAt('retries'));
    if (n < 0) fail('E_VALUE', `--retries cannot be negative (${n})`, flagAt('retries'));
    result.retries = n;
  }
  return result;
}
