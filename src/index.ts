/**
 * keel: parse Dockerfiles and build OCI images without a Docker daemon.
 * The public surface is documented in README.md and shared/SPEC.md section 1.
 */
export type * from './parser/index.js';
export {
  INSTRUCTION_KINDS,
  instructionKind,
  parse,
  dump,
  ParseError,
  expandWord,
  expandWords,
  expandWordWithMatches,
  ExpansionError,
  chompHeredocContent,
  parseMount,
  MountError,
  type ParseOptions,
  type RecoveredDockerfile,
  type ParseErrorCode,
  type Env,
  type LexOptions,
  type ExpansionMatches,
  type Mount,
  type MountSharing,
} from './parser/index.js';
export { check, RULES, RULE_NAMES, type CheckOptions, type CheckResult, type Finding, type Rule, type RuleName, type BaseImageInfo } from './checks/index.js';
export { KeelError, isKeelError, assertNever, KEEL_ERROR_CODES, type KeelErrorCode } from './errors.js';
export { checkDockerfile, type CheckDockerfileOptions, type DockerfileCheck } from './builder/index.js';
export { ENTITLEMENTS, isEntitlement, type Entitlement } from './builder/index.js';
export { build, DockerfileError, type BuildOptions, type BuildResult, type BuildOutput, type BuildEvent, type NamedContext, type CacheExport, type CacheImport } from './builder/index.js';
export { diskUsage, prune, parseSize, type CacheUsage, type CacheUnit, type PruneOptions, type UnitKind } from './builder/index.js';
export type { PruneResult } from './cache/index.js';
export { RunError, RUNTIME_NAMES, type RuntimeName, type Runtime, type RunSpec } from './runtime/index.js';
export { copySnapshotter, type Snapshotter, type ActiveSnapshot, type ParentChain, type ParentView, type SnapshotChanges } from './snapshot/index.js';
export { RegistryError } from './registry/index.js';
export type { Compression } from './image/index.js';
