/**
 * The Dockerfile AST: plain, readonly, serialisable data. Every token carries a Range.
 *
 * Positions are 1-based. `col` counts UTF-16 code units from the start of the physical line
 * (after a leading BOM), and a Range's `end` is exclusive: the position just after its last
 * character. Words keep the raw source text exactly as BuildKit's parser keeps it (quotes and
 * escapes included where BuildKit keeps them); expansion happens later, in the builder.
 */

export interface Pos {
  readonly line: number;
  readonly col: number;
}

export interface Range {
  readonly start: Pos;
  readonly end: Pos;
}

/** A token of the source: its text as BuildKit's parser holds it, and where it came from. */
export interface Word {
  readonly value: string;
  readonly range: Range;
}

/** A `--name[=value]` flag, unquoted and unescaped as BuildKit's parser does it. */
export interface Flag {
  /** The whole flag as BuildKit keeps it, e.g. `--chown=user name`. */
  readonly raw: string;
  /** The name without the leading `--`. */
  readonly name: string;
  /** The text after the first `=`; undefined when there was no `=`. */
  readonly value?: string;
  readonly range: Range;
}

export interface Heredoc {
  /** The delimiter with quotes removed (`EOF` for `<<'EOF'`). */
  readonly name: string;
  /** The file descriptor before `<<` (`3<<EOF`), 0 when none is given. */
  readonly fd: number;
  /** False when any part of the delimiter was quoted: the body is then not expanded. */
  readonly expand: boolean;
  /** `<<-`: leading tabs are removed from the body when it is used (the content here keeps them). */
  readonly chomp: boolean;
  /** The body lines verbatim, line endings included, terminator excluded. */
  readonly content: string;
  /** From the first body line to the end of the terminator line. */
  readonly range: Range;
}

export interface Comment {
  /** The text after `#`, trimmed. */
  readonly text: string;
  readonly range: Range;
}

export type DirectiveName = 'syntax' | 'escape' | 'check';

export interface Directive {
  readonly name: DirectiveName;
  readonly value: string;
  readonly range: Range;
}

export type InstructionKind =
  | 'ADD' | 'ARG' | 'CMD' | 'COPY' | 'ENTRYPOINT' | 'ENV' | 'EXPOSE' | 'FROM' | 'HEALTHCHECK'
  | 'LABEL' | 'MAINTAINER' | 'ONBUILD' | 'RUN' | 'SHELL' | 'STOPSIGNAL' | 'USER' | 'VOLUME' | 'WORKDIR';

export const INSTRUCTION_KINDS: readonly InstructionKind[] = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK',
  'LABEL', 'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
];

const KIND_BY_SPELLING = new Map<string, InstructionKind>();

/**
 * The instruction a keyword names, case-insensitively (`run`, `Run`, `RUN`); undefined for an
 * unknown keyword. Spellings seen are remembered, so a Dockerfile's keywords are case-folded once.
 */
export function instructionKind(keyword: string): InstructionKind | undefined {
  const cached = KIND_BY_SPELLING.get(keyword);
  if (cached !== undefined) return cached;
  // BuildKit dispatches on Go's strings.ToLower; JavaScript's toLowerCase agrees with it where
  // toUpperCase would not (`ſ` and `ı` upper-case to S and I)
  const lower = keyword.toLowerCase();
  const kind = INSTRUCTION_KINDS.find((k) => k.toLowerCase() === lower);
  if (kind !== undefined && KIND_BY_SPELLING.size < 4096) KIND_BY_SPELLING.set(keyword, kind);
  return kind;
}

/**
 * What BuildKit's parser makes of one logical line (its `parser.Node`): the keyword, flags and
 * argument list that `dump()` prints. Every instruction has these fields.
 */
export interface SyntaxNode {
  /** The keyword as written (`run`, `Run`, `RUN`). */
  readonly keyword: Word;
  readonly flags: readonly Flag[];
  /** BuildKit's argument chain (Node.Next), raw. ENV/LABEL give key, value, separator triples. */
  readonly args: readonly Word[];
  /** ONBUILD only: the wrapped instruction as the parser saw it (validated when it triggers). */
  readonly trigger?: SyntaxNode;
  /** The arguments were a JSON array (exec form). */
  readonly json: boolean;
  readonly heredocs: readonly Heredoc[];
  /** The logical line: continuations joined, comment lines removed, heredoc bodies excluded. */
  readonly original: string;
  /** From the keyword to the end of the last line the instruction consumed (heredoc terminators included). */
  readonly range: Range;
}

/** Comment lines directly above the instruction (BuildKit's PrevComment). */
interface Commented {
  readonly comments: readonly string[];
}

export interface ShellForm {
  readonly form: 'shell';
  /** The command line as one string (what goes after `/bin/sh -c`). */
  readonly script: string;
  readonly range: Range;
}

export interface ExecForm {
  readonly form: 'exec';
  readonly args: readonly Word[];
}

export type CommandLine = ShellForm | ExecForm;

export interface KeyValue {
  readonly key: Word;
  readonly value: Word;
  /** `KEY value` (legacy, no `=`) rather than `KEY=value`. */
  readonly legacy: boolean;
}

export interface ArgDeclaration {
  readonly name: string;
  /** The default, raw; undefined for `ARG NAME` (no `=`), '' for `ARG NAME=`. */
  readonly default?: string;
  /** The whole `name[=value]` word. */
  readonly word: Word;
  /** From a `# NAME description` comment above the ARG. */
  readonly description?: string;
}

export type CopySource =
  | { readonly kind: 'path'; readonly path: Word }
  | { readonly kind: 'heredoc'; readonly word: Word; readonly heredoc: Heredoc };

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';

/** A `RUN --mount=` value as read at parse time; option values are expanded and checked at build time. */
export interface MountFlag {
  readonly value: string;
  readonly range: Range;
}

export interface DeviceRequest {
  readonly name: string;
  readonly required: boolean;
}

export type Healthcheck =
  | { readonly type: 'NONE' }
  | {
      readonly type: 'CMD';
      /** `['CMD', ...args]` for exec form, `['CMD-SHELL', script]` for shell form. */
      readonly test: readonly string[];
      /** Durations in nanoseconds (as in the image config); 0 when not given. */
      readonly interval: number;
      readonly timeout: number;
      readonly startPeriod: number;
      readonly startInterval: number;
      readonly retries: number;
    };

type Typed<K extends InstructionKind, T> = SyntaxNode & Commented & { readonly kind: K } & T;

export type FromInstruction = Typed<'FROM', {
  readonly image: Word;
  /** `AS name`, as written. */
  readonly stageName?: Word;
  /** The stage name lower-cased, as BuildKit stores it. */
  readonly name?: string;
  readonly platform?: string;
  readonly description?: string;
}>;
export type RunInstruction = Typed<'RUN', {
  readonly command: CommandLine;
  readonly mounts: readonly MountFlag[];
  readonly network: NetworkMode;
  readonly security: SecurityMode;
  readonly devices: readonly DeviceRequest[];
}>;
export type CmdInstruction = Typed<'CMD', { readonly command: CommandLine }>;
export type EntrypointInstruction = Typed<'ENTRYPOINT', { readonly command: CommandLine }>;
export type ShellInstruction = Typed<'SHELL', { readonly shell: readonly Word[] }>;
export type CopyInstruction = Typed<'COPY', {
  readonly sources: readonly CopySource[];
  readonly dest: Word;
  readonly from?: string;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  readonly parents: boolean;
  readonly exclude: readonly string[];
}>;
export type AddInstruction = Typed<'ADD', {
  readonly sources: readonly CopySource[];
  readonly dest: Word;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  /** Undefined when the flag was not given (BuildKit's *bool). */
  readonly keepGitDir?: boolean;
  readonly checksum?: string;
  readonly unpack?: boolean;
  readonly exclude: readonly string[];
}>;
export type EnvInstruction = Typed<'ENV', { readonly pairs: readonly KeyValue[] }>;
export type LabelInstruction = Typed<'LABEL', { readonly pairs: readonly KeyValue[] }>;
export type ArgInstruction = Typed<'ARG', { readonly declarations: readonly ArgDeclaration[] }>;
export type ExposeInstruction = Typed<'EXPOSE', { readonly ports: readonly Word[] }>;
export type WorkdirInstruction = Typed<'WORKDIR', { readonly path: Word }>;
export type UserInstruction = Typed<'USER', { readonly user: Word }>;
export type VolumeInstruction = Typed<'VOLUME', { readonly volumes: readonly Word[] }>;
export type StopsignalInstruction = Typed<'STOPSIGNAL', { readonly signal: Word }>;
export type MaintainerInstruction = Typed<'MAINTAINER', { readonly maintainer: Word }>;
export type HealthcheckInstruction = Typed<'HEALTHCHECK', { readonly healthcheck: Healthcheck }>;
export type OnbuildInstruction = Typed<'ONBUILD', {
  readonly trigger: SyntaxNode;
  /** The trigger's text as stored in the image config (heredoc bodies re-appended). */
  readonly expression: string;
}>;

export type Instruction =
  | FromInstruction | RunInstruction | CmdInstruction | EntrypointInstruction | ShellInstruction
  | CopyInstruction | AddInstruction | EnvInstruction | LabelInstruction | ArgInstruction
  | ExposeInstruction | WorkdirInstruction | UserInstruction | VolumeInstruction
  | StopsignalInstruction | MaintainerInstruction | HealthcheckInstruction | OnbuildInstruction;

/**
 * Only in `parse(text, { recover: true })` results: a line that is not a valid instruction.
 * `level: 'instruction'` means BuildKit's parser made a node of it and its instruction layer
 * rejected it (unknown instruction, bad flag, wrong arity): `dump()` prints it. `level: 'line'`
 * means the parser itself failed on that line (bad JSON array, ENV without `=`, unterminated
 * heredoc): BuildKit would have stopped, and `dump()` leaves it out.
 */
export type InvalidInstruction = SyntaxNode & Commented & {
  readonly kind: 'INVALID';
  readonly level: 'line' | 'instruction';
};

export interface ParseWarning {
  /** BuildKit's short text, e.g. `Empty continuation line found in: RUN ...`. */
  readonly message: string;
  readonly detail: string;
  readonly url: string;
  readonly rule: 'NoEmptyContinuation';
  readonly range: Range;
}

export interface Dockerfile<I = Instruction> {
  readonly filename?: string;
  readonly escapeToken: '\\' | '`';
  readonly directives: readonly Directive[];
  readonly instructions: readonly I[];
  /** Every comment line outside heredoc bodies, directives excluded. */
  readonly comments: readonly Comment[];
  readonly warnings: readonly ParseWarning[];
}
