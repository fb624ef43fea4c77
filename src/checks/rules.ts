/**
 * BuildKit's build checks (frontend/dockerfile/linter/ruleset.go): each rule's name, description,
 * documentation URL and message, word for word, so that a finding reads as `docker build --check`
 * prints it and tools that know the rule names (editors, CI) recognise them.
 */
import { goQuote } from '../parser/index.js';

export interface Rule {
  readonly name: RuleName;
  readonly description: string;
  /** Where Docker documents it; InvalidBaseImagePlatform has none. */
  readonly url?: string;
  /** Run only when asked for (`# check=experimental=NAME` or `experimental=all`). */
  readonly experimental?: boolean;
}

export const RULE_NAMES = [
  'StageNameCasing', 'FromAsCasing', 'NoEmptyContinuation', 'ConsistentInstructionCasing', 'DuplicateStageName',
  'ReservedStageName', 'JSONArgsRecommended', 'MaintainerDeprecated', 'UndefinedArgInFrom', 'WorkdirRelativePath',
  'UndefinedVar', 'MultipleInstructionsDisallowed', 'LegacyKeyValueFormat', 'InvalidBaseImagePlatform',
  'RedundantTargetPlatform', 'SecretsUsedInArgOrEnv', 'InvalidDefaultArgInFrom', 'FromPlatformFlagConstDisallowed',
  'CopyIgnoredFile', 'InvalidDefinitionDescription', 'ExposeProtoCasing', 'ExposeInvalidFormat',
] as const;

export type RuleName = (typeof RULE_NAMES)[number];

const url = (slug: string): string => `https://docs.docker.com/go/dockerfile/rule/${slug}/`;

export const RULES: { readonly [K in RuleName]: Rule & { readonly name: K } } = {
  StageNameCasing: { name: 'StageNameCasing', description: 'Stage names should be lowercase', url: url('stage-name-casing') },
  FromAsCasing: { name: 'FromAsCasing', description: "The 'as' keyword should match the case of the 'from' keyword", url: url('from-as-casing') },
  NoEmptyContinuation: { name: 'NoEmptyContinuation', description: 'Empty continuation lines will become errors in a future release', url: url('no-empty-continuation') },
  ConsistentInstructionCasing: {
    name: 'ConsistentInstructionCasing', description: 'All commands within the Dockerfile should use the same casing (either upper or lower)', url: url('consistent-instruction-casing'),
  },
  DuplicateStageName: { name: 'DuplicateStageName', description: 'Stage names should be unique', url: url('duplicate-stage-name') },
  ReservedStageName: { name: 'ReservedStageName', description: 'Reserved words should not be used as stage names', url: url('reserved-stage-name') },
  JSONArgsRecommended: {
    name: 'JSONArgsRecommended', description: 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals', url: url('json-args-recommended'),
  },
  MaintainerDeprecated: {
    name: 'MaintainerDeprecated', description: 'The MAINTAINER instruction is deprecated, use a label instead to define an image author', url: url('maintainer-deprecated'),
  },
  UndefinedArgInFrom: { name: 'UndefinedArgInFrom', description: 'FROM command must use declared ARGs', url: url('undefined-arg-in-from') },
  WorkdirRelativePath: {
    name: 'WorkdirRelativePath',
    description: 'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes',
    url: url('workdir-relative-path'),
  },
  UndefinedVar: { name: 'UndefinedVar', description: 'Variables should be defined before their use', url: url('undefined-var') },
  MultipleInstructionsDisallowed: {
    name: 'MultipleInstructionsDisallowed', description: 'Multiple instructions of the same type should not be used in the same stage', url: url('multiple-instructions-disallowed'),
  },
  LegacyKeyValueFormat: { name: 'LegacyKeyValueFormat', description: 'Legacy key/value format with whitespace separator should not be used', url: url('legacy-key-value-format') },
  InvalidBaseImagePlatform: { name: 'InvalidBaseImagePlatform', description: 'Base image platform does not match expected target platform' },
  RedundantTargetPlatform: {
    name: 'RedundantTargetPlatform', description: 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior', url: url('redundant-target-platform'),
  },
  SecretsUsedInArgOrEnv: { name: 'SecretsUsedInArgOrEnv', description: 'Sensitive data should not be used in the ARG or ENV commands', url: url('secrets-used-in-arg-or-env') },
  InvalidDefaultArgInFrom: {
    name: 'InvalidDefaultArgInFrom', description: 'Default value for global ARG results in an empty or invalid base image name', url: url('invalid-default-arg-in-from'),
  },
  FromPlatformFlagConstDisallowed: {
    name: 'FromPlatformFlagConstDisallowed', description: 'FROM --platform flag should not use a constant value', url: url('from-platform-flag-const-disallowed'),
  },
  CopyIgnoredFile: { name: 'CopyIgnoredFile', description: 'Attempting to Copy file that is excluded by .dockerignore', url: url('copy-ignored-file') },
  InvalidDefinitionDescription: {
    name: 'InvalidDefinitionDescription',
    description: 'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.',
    url: url('invalid-definition-description'),
    experimental: true,
  },
  ExposeProtoCasing: { name: 'ExposeProtoCasing', description: 'Protocol in EXPOSE instruction should be lowercase', url: url('expose-proto-casing') },
  ExposeInvalidFormat: {
    name: 'ExposeInvalidFormat',
    description: 'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release',
    url: url('expose-invalid-format'),
  },
};

/** Each rule's message (BuildKit's Format functions). */
export const MESSAGES = {
  StageNameCasing: (stage: string) => `Stage name '${stage}' should be lowercase`,
  FromAsCasing: (from: string, as: string) => `'${as}' and '${from}' keywords' casing do not match`,
  NoEmptyContinuation: () => 'Empty continuation line',
  ConsistentInstructionCasing: (command: string, casing: 'lowercase' | 'uppercase') => `Command '${command}' should match the case of the command majority (${casing})`,
  DuplicateStageName: (stage: string) => `Duplicate stage name ${goQuote(stage)}, stage names should be unique`,
  ReservedStageName: (stage: string) => `Stage name should not use the same name as reserved stage ${goQuote(stage)}`,
  JSONArgsRecommended: (instruction: string) => `JSON arguments recommended for ${instruction} to prevent unintended behavior related to OS signals`,
  MaintainerDeprecated: () => 'Maintainer instruction is deprecated in favor of using label',
  UndefinedArgInFrom: (arg: string, suggest: string | undefined) => `FROM argument '${arg}' is not declared${suggest === undefined ? '' : ` (did you mean ${suggest}?)`}`,
  WorkdirRelativePath: (workdir: string) => `Relative workdir ${goQuote(workdir)} can have unexpected results if the base image changes`,
  UndefinedVar: (name: string, suggest: string | undefined) => `Usage of undefined variable '$${name}'${suggest === undefined ? '' : ` (did you mean $${suggest}?)`}`,
  MultipleInstructionsDisallowed: (instruction: string) => `Multiple ${instruction} instructions should not be used in the same stage because only the last one will be used`,
  LegacyKeyValueFormat: (instruction: string) => `"${instruction} key=value" should be used instead of legacy "${instruction} key value" format`,
  InvalidBaseImagePlatform: (image: string, expected: string, actual: string) => `Base image ${image} was pulled with platform ${goQuote(actual)}, expected ${goQuote(expected)} for current build`,
  RedundantTargetPlatform: (value: string) => `Setting platform to predefined ${value} in FROM is redundant as this is the default behavior`,
  SecretsUsedInArgOrEnv: (instruction: 'ARG' | 'ENV', key: string) => `Do not use ARG or ENV instructions for sensitive data (${instruction} ${goQuote(key)})`,
  InvalidDefaultArgInFrom: (base: string) => `Default value for ARG ${base} results in empty or invalid base image name`,
  FromPlatformFlagConstDisallowed: (platform: string) => `FROM --platform flag should not use constant value ${goQuote(platform)}`,
  CopyIgnoredFile: (command: 'Copy' | 'Add', file: string) => `Attempting to ${command} file ${goQuote(file)} that is excluded by .dockerignore`,
  InvalidDefinitionDescription: (instruction: 'ARG' | 'FROM', name: string) => `Comment for ${instruction} should follow the format: \`# ${name} <description>\``,
  ExposeProtoCasing: (port: string) => `Defined protocol '${port}' in EXPOSE instruction should be lowercase`,
  ExposeInvalidFormat: (port: string) => `EXPOSE instruction should not define an IP address or host-port mapping, found '${port}'`,
} as const satisfies { readonly [K in RuleName]: (...args: never[]) => string };

