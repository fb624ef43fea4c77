export type * from './ast.js';
export { INSTRUCTION_KINDS, instructionKind } from './ast.js';
export { parse, type ParseOptions, type RecoveredDockerfile } from './parse.js';
export { dump } from './dump.js';
export { ParseError, type ParseErrorCode } from './errors.js';
export {
  expandWord,
  expandWords,
  expandWordWithMatches,
  ExpansionError,
  type Env,
  type LexOptions,
  type ExpansionMatches,
} from './shell/lex.js';
export { chompHeredocContent } from './heredoc.js';
export { parseMount, type Mount, type MountSharing, MountError } from './mount.js';
// for other folders of keel (not exported by the package: src/index.ts names its exports)
export { goQuote, suggest } from './go-text.js';
