/**
 * BuildKit's build-check tests (moby/buildkit frontend/dockerfile/dockerfile_check_test.go, at
 * 73ed682) as data: each Dockerfile (its text exactly, leading newline included), the context's
 * .dockerignore, the build args, and the findings BuildKit expects as [rule, line, message].
 * `warnings` are a build's (the stages the target needs); `all` replaces them where `docker build
 * --check` (every stage) finds more. Images BuildKit's tests pull (alpine, busybox) are given their
 * real config's ENV (PATH) through `baseImage`. Windows variants are left out.
 */
export type Expected = readonly [rule: string, line: number, message: string];

export interface BuildkitCase {
  readonly name: string;
  readonly dockerfile: string;
  readonly dockerignore?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly warnings: readonly Expected[];
  readonly all?: readonly Expected[];
  /** BuildKit's build error: a lint violation with error=true, or the parser's error. */
  readonly error?: string;
}

/** Each rule's description and URL as the tests expect them (InvalidBaseImagePlatform has no URL). */
export const RULE_DOCS: Readonly<Record<string, readonly [description: string, url: string]>> = {
  InvalidDefinitionDescription: ['Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.', 'https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/'],
  CopyIgnoredFile: ['Attempting to Copy file that is excluded by .dockerignore', 'https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/'],
  SecretsUsedInArgOrEnv: ['Sensitive data should not be used in the ARG or ENV commands', 'https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/'],
  UndefinedVar: ['Variables should be defined before their use', 'https://docs.docker.com/go/dockerfile/rule/undefined-var/'],
  FromAsCasing: ["The 'as' keyword should match the case of the 'from' keyword", 'https://docs.docker.com/go/dockerfile/rule/from-as-casing/'],
  StageNameCasing: ['Stage names should be lowercase', 'https://docs.docker.com/go/dockerfile/rule/stage-name-casing/'],
  NoEmptyContinuation: ['Empty continuation lines will become errors in a future release', 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/'],
  ConsistentInstructionCasing: ['All commands within the Dockerfile should use the same casing (either upper or lower)', 'https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/'],
  DuplicateStageName: ['Stage names should be unique', 'https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/'],
  ReservedStageName: ['Reserved words should not be used as stage names', 'https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/'],
  JSONArgsRecommended: ['JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals', 'https://docs.docker.com/go/dockerfile/rule/json-args-recommended/'],
  MaintainerDeprecated: ['The MAINTAINER instruction is deprecated, use a label instead to define an image author', 'https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/'],
  UndefinedArgInFrom: ['FROM command must use declared ARGs', 'https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/'],
  WorkdirRelativePath: ['Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes', 'https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/'],
  MultipleInstructionsDisallowed: ['Multiple instructions of the same type should not be used in the same stage', 'https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/'],
  LegacyKeyValueFormat: ['Legacy key/value format with whitespace separator should not be used', 'https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/'],
  RedundantTargetPlatform: ['Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior', 'https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/'],
  InvalidDefaultArgInFrom: ['Default value for global ARG results in an empty or invalid base image name', 'https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/'],
  FromPlatformFlagConstDisallowed: ['FROM --platform flag should not use a constant value', 'https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/'],
  ExposeProtoCasing: ['Protocol in EXPOSE instruction should be lowercase', 'https://docs.docker.com/go/dockerfile/rule/expose-proto-casing/'],
  ExposeInvalidFormat: ['IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release', 'https://docs.docker.com/go/dockerfile/rule/expose-invalid-format/'],
};

/** The ENV of the images the tests pull: what their configs hold. */
export const BASE_ENV: Readonly<Record<string, readonly string[]>> = {
  alpine: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  busybox: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
};

const multiple = (instruction: string, line: number): Expected =>
  ['MultipleInstructionsDisallowed', line, `Multiple ${instruction} instructions should not be used in the same stage because only the last one will be used`];
const fromAs = (as: string, from: string, line: number): Expected => ['FromAsCasing', line, `'${as}' and '${from}' keywords' casing do not match`];
const secret = (instruction: string, key: string, line: number): Expected => ['SecretsUsedInArgOrEnv', line, `Do not use ARG or ENV instructions for sensitive data (${instruction} "${key}")`];

export const CASES: readonly BuildkitCase[] = [
  // testDefinitionDescription
  {
    name: 'definition descriptions that follow the format',
    dockerfile: `# check=skip=all;experimental=InvalidDefinitionDescription
# foo this is the foo
ARG foo=bar

# base this is the base image
FROM scratch AS base

# version this is the version number
ARG version=latest

# baz this is the baz
ARG foo=baz bar=qux baz=quux
#
ARG bit=bat

# comment for something other than ARG or FROM
COPY Dockerfile .
`,
    warnings: [],
  },
  {
    name: 'definition descriptions that do not',
    dockerfile: `# check=experimental=InvalidDefinitionDescription
# bar this is the bar
ARG foo=bar
# BasE this is the BasE image
FROM scratch AS base
# definitely a bad comment
ARG version=latest
# definitely a bad comment
ARG foo=baz bar=qux baz=quux
`,
    warnings: [
      ['InvalidDefinitionDescription', 3, 'Comment for ARG should follow the format: `# foo <description>`'],
      ['InvalidDefinitionDescription', 5, 'Comment for FROM should follow the format: `# base <description>`'],
      ['InvalidDefinitionDescription', 7, 'Comment for ARG should follow the format: `# version <description>`'],
      ['InvalidDefinitionDescription', 9, 'Comment for ARG should follow the format: `# <arg_key> <description>`'],
    ],
  },
  // testCopyIgnoredFiles
  {
    name: 'COPY and ADD of a file the .dockerignore excludes',
    dockerfile: '\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n',
    dockerignore: '\nDockerfile\n',
    warnings: [
      ['CopyIgnoredFile', 3, 'Attempting to Copy file "Dockerfile" that is excluded by .dockerignore'],
      ['CopyIgnoredFile', 4, 'Attempting to Add file "Dockerfile" that is excluded by .dockerignore'],
    ],
  },
  {
    name: 'CopyIgnoredFile skipped by the directive',
    dockerfile: '# check=skip=CopyIgnoredFile\n\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n',
    dockerignore: '\nDockerfile\n',
    warnings: [],
  },
  {
    name: 'COPY --from a stage is not the context',
    dockerfile: '\nFROM scratch AS base\nCOPY Dockerfile /foobar\nADD Dockerfile /windy\n\nFROM base\nCOPY --from=base /foobar /Dockerfile\n',
    dockerignore: '\nfoobar\n',
    warnings: [],
  },
  {
    name: 'a .dockerignore with exceptions is not judged',
    dockerfile: '\nFROM scratch\nCOPY ./Dockerfile .\n',
    dockerignore: '\n**\n!Dockerfile\n',
    warnings: [],
  },
  {
    name: 'COPY of the whole context under exceptions',
    dockerfile: '\nFROM scratch\nCOPY . .\n\t',
    dockerignore: '\n**\n!Dockerfile\n',
    warnings: [],
  },
  // testCopyIgnoredFileContextRoot
  {
    name: 'COPY . with dotfiles ignored',
    dockerfile: '\nFROM scratch\nCOPY . .\n',
    dockerignore: '\n.*\n',
    warnings: [],
  },
  {
    name: 'COPY . with everything ignored',
    dockerfile: '\nFROM scratch\nCOPY . .\n',
    dockerignore: '\n*\n',
    warnings: [['CopyIgnoredFile', 3, 'Attempting to Copy file "." that is excluded by .dockerignore']],
  },
  // testSecretsUsedInArgOrEnv
  {
    name: 'secrets in ARG and ENV, and comments that skip a rule for one instruction',
    dockerfile: `# check=skip=InvalidDefinitionDescription

FROM scratch
ARG SECRET_PASSPHRASE
ENV SUPER_Secret=foo
ENV password=bar secret=baz
ARG super_duper_secret_token=foo auth=bar
ENV apikey=bar sunflower=foo
ENV git_key=
ENV PUBLIC_KEY=
ARG public_token
ARG SECRET_PASSPHRASE_FILE
ENV password_file=bar secret_File=baz
ARG AUTH_MODULE_VERSION
# check=skip=SecretsUsedInArgOrEnv // allow secret in environment
ENV password=bar
# check=skip=SecretsUsedInArgOrEnv // allow secret in arg
ARG password
# check=skip=all // is local to only this instruction
ENV alternate_password=bar
# check=skip=all // is local to only this instruction
ARG alternate_password
`,
    warnings: [
      secret('ARG', 'SECRET_PASSPHRASE', 4), secret('ENV', 'SUPER_Secret', 5), secret('ENV', 'password', 6), secret('ENV', 'secret', 6),
      secret('ARG', 'auth', 7), secret('ARG', 'super_duper_secret_token', 7), secret('ENV', 'apikey', 8), secret('ENV', 'git_key', 9),
    ],
  },
  // testAllTargetUnmarshal
  {
    name: 'a build checks the target\'s stages; --check checks them all',
    dockerfile: '\nFROM scratch AS first\nCOPY $foo .\n\nFROM scratch AS second\nCOPY $bar .\n',
    warnings: [['UndefinedVar', 6, "Usage of undefined variable '$bar'"]],
    all: [['UndefinedVar', 3, "Usage of undefined variable '$foo'"], ['UndefinedVar', 6, "Usage of undefined variable '$bar'"]],
  },
  // testRuleCheckOption
  { name: 'skip=all', dockerfile: '#check=skip=all\nFROM scratch as base\ncopy Dockerfile .\n', warnings: [] },
  { name: 'skip=all;error=true', dockerfile: '#check=skip=all;error=true\nFROM scratch as base\ncopy Dockerfile .\n', warnings: [] },
  { name: 'skip two rules', dockerfile: '#check=skip=ConsistentInstructionCasing,FromAsCasing\nFROM scratch as base\ncopy Dockerfile .\n', warnings: [] },
  { name: 'skip two rules;error=true', dockerfile: '#check=skip=ConsistentInstructionCasing,FromAsCasing;error=true\nFROM scratch as base\ncopy Dockerfile .\n', warnings: [] },
  {
    name: 'skip one rule',
    dockerfile: '#check=skip=ConsistentInstructionCasing\nFROM scratch as base\ncopy Dockerfile .\n',
    warnings: [fromAs('as', 'FROM', 2)],
  },
  {
    name: 'skip one rule;error=true fails with the others',
    dockerfile: '#check=skip=ConsistentInstructionCasing;error=true\nFROM scratch as base\ncopy Dockerfile .\n',
    warnings: [fromAs('as', 'FROM', 2)],
    error: 'lint violation found for rules: FromAsCasing',
  },
  {
    name: 'BUILDKIT_DOCKERFILE_CHECK replaces the directive',
    dockerfile: '#check=skip=all\nFROM scratch as base\ncopy Dockerfile .\n',
    buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=ConsistentInstructionCasing;error=true' },
    warnings: [fromAs('as', 'FROM', 2)],
    error: 'lint violation found for rules: FromAsCasing',
  },
  {
    name: 'BUILDKIT_DOCKERFILE_CHECK=skip=all over error=true',
    dockerfile: '#check=error=true\nFROM scratch as base\ncopy Dockerfile .\n',
    buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=all' },
    warnings: [],
  },
  // testStageName
  {
    name: 'stage name casing, and AS matching FROM',
    dockerfile: `
# warning: stage name should be lowercase
#
FROM scratch AS BadStageName

# warning: 'as' should match 'FROM' cmd casing.
#
FROM scratch as base2

FROM scratch AS base3
`,
    warnings: [['StageNameCasing', 4, "Stage name 'BadStageName' should be lowercase"], fromAs('as', 'FROM', 8)],
  },
  {
    name: 'AS matching a lower-case from',
    dockerfile: `
# warning: 'AS' should match 'from' cmd casing.
#
from scratch AS base

from scratch as base2
`,
    warnings: [fromAs('AS', 'from', 4)],
  },
  // testNoEmptyContinuation
  {
    name: 'an empty continuation line',
    dockerfile: '\nFROM scratch\n# warning: empty continuation line\nCOPY Dockerfile \\\n\n.\nCOPY Dockerfile \\\n.\n',
    warnings: [['NoEmptyContinuation', 6, 'Empty continuation line']],
  },
  // testConsistentInstructionCasing
  {
    name: 'a keyword of mixed case, upper-case majority',
    dockerfile: "\n# warning: 'FROM' should be either lowercased or uppercased\n#\nFrom scratch as base\nFROM scratch AS base2\n",
    warnings: [['ConsistentInstructionCasing', 4, "Command 'From' should match the case of the command majority (uppercase)"]],
  },
  {
    name: 'a lower-case keyword among upper-case ones (a tie goes upper)',
    dockerfile: "\nFROM scratch\n# warning: 'copy' should match command majority's casing (uppercase)\ncopy Dockerfile /foo\nCOPY Dockerfile /bar\n",
    warnings: [['ConsistentInstructionCasing', 4, "Command 'copy' should match the case of the command majority (uppercase)"]],
  },
  {
    name: 'a keyword of mixed case, lower-case majority',
    dockerfile: "\n# warning: 'frOM' should be either lowercased or uppercased\n#\nfrOM scratch as base\nfrom scratch as base2\n",
    warnings: [['ConsistentInstructionCasing', 4, "Command 'frOM' should match the case of the command majority (lowercase)"]],
  },
  {
    name: 'an upper-case keyword among lower-case ones',
    dockerfile: "\nfrom scratch\n# warning: 'COPY' should match command majority's casing (lowercase)\nCOPY Dockerfile /foo\ncopy Dockerfile /bar\n",
    warnings: [['ConsistentInstructionCasing', 4, "Command 'COPY' should match the case of the command majority (lowercase)"]],
  },
  {
    name: 'a lower-case FROM among upper-case keywords',
    dockerfile: "\n# warning: 'from' should match command majority's casing (uppercase)\n#\nfrom scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\nCOPY Dockerfile /baz\n",
    warnings: [['ConsistentInstructionCasing', 4, "Command 'from' should match the case of the command majority (uppercase)"]],
  },
  {
    name: 'an upper-case FROM among lower-case keywords',
    dockerfile: "\n# warning: 'FROM' should match command majority's casing (lowercase)\n#\nFROM scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\ncopy Dockerfile /baz\n",
    warnings: [['ConsistentInstructionCasing', 4, "Command 'FROM' should match the case of the command majority (lowercase)"]],
  },
  { name: 'all lower case', dockerfile: '\nfrom scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\n', warnings: [] },
  { name: 'all upper case', dockerfile: '\nFROM scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\n', warnings: [] },
  { name: 'a heredoc body is not a keyword', dockerfile: "\nFROM alpine\nRUN <<'EOT'\nenv\nEOT\n", warnings: [] },
  // testDuplicateStageName
  { name: 'a stage name twice', dockerfile: '\nFROM scratch AS b\nFROM scratch AS b\n', warnings: [['DuplicateStageName', 3, 'Duplicate stage name "b", stage names should be unique']] },
  { name: 'stage names once each', dockerfile: '\nFROM scratch AS b1\nFROM scratch AS b2\n', warnings: [] },
  // testReservedStageName
  {
    name: 'reserved stage names',
    dockerfile: '\nFROM scratch AS scratch\nFROM scratch AS context\n',
    warnings: [
      ['ReservedStageName', 2, 'Stage name should not use the same name as reserved stage "scratch"'],
      ['ReservedStageName', 3, 'Stage name should not use the same name as reserved stage "context"'],
    ],
  },
  { name: 'a reserved name as a base is fine', dockerfile: '\nFROM scratch\nFROM scratch AS a\n', warnings: [] },
  // testJSONArgsRecommended
  { name: 'CMD in shell form', dockerfile: '\nFROM scratch\nCMD mycommand\n', warnings: [['JSONArgsRecommended', 3, 'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals']] },
  { name: 'ENTRYPOINT in shell form', dockerfile: '\nFROM scratch\nENTRYPOINT mycommand\n', warnings: [['JSONArgsRecommended', 3, 'JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals']] },
  { name: 'CMD after SHELL', dockerfile: '\nFROM scratch\nSHELL ["/usr/bin/customshell"]\nCMD mycommand\n', warnings: [] },
  { name: 'ENTRYPOINT after SHELL', dockerfile: '\nFROM scratch\nSHELL ["/usr/bin/customshell"]\nENTRYPOINT mycommand\n', warnings: [] },
  { name: 'CMD after a SHELL of the base stage', dockerfile: '\nFROM scratch AS base\nSHELL ["/usr/bin/customshell"]\n\nFROM base\nCMD mycommand\n', warnings: [] },
  { name: 'ENTRYPOINT after a SHELL of the base stage', dockerfile: '\nFROM scratch AS base\nSHELL ["/usr/bin/customshell"]\n\nFROM base\nENTRYPOINT mycommand\n', warnings: [] },
  // testMaintainerDeprecated
  { name: 'MAINTAINER', dockerfile: '\nFROM scratch\nMAINTAINER me@example.org\n', warnings: [['MaintainerDeprecated', 3, 'Maintainer instruction is deprecated in favor of using label']] },
  { name: 'the authors label', dockerfile: '\nFROM scratch\nLABEL org.opencontainers.image.authors="me@example.org"\n', warnings: [] },
  { name: 'a comment skips JSONArgsRecommended for CMD', dockerfile: '\nFROM scratch\n# check=skip=JSONArgsRecommended\nCMD mycommand\n', warnings: [] },
  { name: 'a comment skips JSONArgsRecommended for ENTRYPOINT', dockerfile: '\nFROM scratch\n# check=skip=JSONArgsRecommended\nENTRYPOINT mycommand\n', warnings: [] },
  { name: 'a comment skips MaintainerDeprecated', dockerfile: '\nFROM scratch\n# check=skip=MaintainerDeprecated\nMAINTAINER me@example.org\n', warnings: [] },
  // testWarningsBeforeError
  {
    name: 'findings before a parse error',
    dockerfile: '\nFROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\n',
    warnings: [['StageNameCasing', 2, "Stage name 'BadStageName' should be lowercase"], ['MaintainerDeprecated', 3, 'Maintainer instruction is deprecated in favor of using label']],
    error: 'unknown instruction: BADCMD',
  },
  // testUndeclaredArg
  { name: 'a declared global ARG in FROM', dockerfile: '\nARG base=scratch\nFROM $base\nCOPY Dockerfile .\n', warnings: [] },
  { name: 'a predefined ARG redeclared', dockerfile: '\nARG BUILDPLATFORM=linux/amd64\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n', warnings: [] },
  { name: 'a predefined ARG in --platform', dockerfile: '\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n', warnings: [] },
  { name: 'a declared ARG without a value', dockerfile: '\nARG DEBUG\nFROM scratch${DEBUG}\nCOPY Dockerfile .\n', warnings: [] },
  { name: 'a declared ARG with a default in the word', dockerfile: '\nARG DEBUG\nFROM scra${DEBUG:-tch}\nCOPY Dockerfile .\n', warnings: [] },
  { name: 'an ARG set empty', dockerfile: '\nARG DEBUG=""\nFROM scratch${DEBUG-@bogus}\nCOPY Dockerfile .\n', warnings: [] },
  {
    name: 'a misspelt predefined ARG in --platform',
    dockerfile: '\nFROM --platform=$BULIDPLATFORM scratch\nCOPY Dockerfile .\n',
    warnings: [['UndefinedArgInFrom', 2, "FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?)"]],
  },
  {
    name: 'a misspelt global ARG in --platform',
    dockerfile: '\nARG MY_OS=linux\nARG MY_ARCH=amd64\nFROM --platform=linux/${MYARCH} busybox\nCOPY Dockerfile .\n\t',
    warnings: [['UndefinedArgInFrom', 4, "FROM argument 'MYARCH' is not declared (did you mean MY_ARCH?)"]],
  },
  {
    name: 'an undeclared ARG in the base name',
    dockerfile: '\nARG tag=latest\nFROM busybox:${tag}${version} AS b\nCOPY Dockerfile .\n',
    warnings: [['UndefinedArgInFrom', 3, "FROM argument 'version' is not declared"]],
  },
  // testWorkdirRelativePath
  { name: 'a relative WORKDIR first', dockerfile: '\nFROM scratch\nWORKDIR app/\n', warnings: [['WorkdirRelativePath', 3, 'Relative workdir "app/" can have unexpected results if the base image changes']] },
  { name: 'a relative WORKDIR after an absolute one in the base stage', dockerfile: '\nFROM scratch AS a\nWORKDIR /app\n\nFROM a AS b\nWORKDIR subdir/\n', warnings: [] },
  { name: 'a comment skips WorkdirRelativePath', dockerfile: '\nFROM scratch\n# check=skip=WorkdirRelativePath\nWORKDIR app/\n', warnings: [] },
  // testUnmatchedVars
  { name: 'a stage ARG without a value', dockerfile: '\nFROM scratch\nARG foo\nCOPY Dockerfile${foo} .\n', warnings: [] },
  { name: 'an ARG of the base stage', dockerfile: '\nFROM alpine AS base\nARG foo=Dockerfile\n\nFROM base\nCOPY $foo .\n', warnings: [] },
  { name: 'the base image\'s ENV', dockerfile: '\nFROM alpine\nRUN echo $PATH\n', warnings: [] },
  {
    name: 'a variable used before its ARG',
    dockerfile: '\nFROM alpine\nCOPY $foo .\nARG foo=bar\nRUN echo $foo\n',
    warnings: [['UndefinedVar', 3, "Usage of undefined variable '$foo'"]],
  },
  {
    name: 'a misspelt ARG',
    dockerfile: '\nFROM alpine\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\nARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n\t',
    warnings: [['UndefinedVar', 6, "Usage of undefined variable '$DIR_ASSET' (did you mean $DIR_ASSETS?)"]],
  },
  {
    name: 'a misspelt PATH',
    dockerfile: '\nFROM alpine\nENV PATH=$PAHT:/tmp/bin\n\t\t',
    warnings: [['UndefinedVar', 3, "Usage of undefined variable '$PAHT' (did you mean $PATH?)"]],
  },
  // testMultipleInstructionsDisallowed
  {
    name: 'ENTRYPOINT, CMD and HEALTHCHECK twice',
    dockerfile: '\nFROM scratch\nENTRYPOINT ["/myapp"]\nENTRYPOINT ["/myotherapp"]\nCMD ["/myapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n',
    warnings: [multiple('ENTRYPOINT', 3), multiple('CMD', 5), multiple('HEALTHCHECK', 7)],
  },
  {
    name: 'twice with other instructions between',
    dockerfile: '\nFROM scratch\nENTRYPOINT ["/myapp"]\nCMD ["/myapp"]\nHEALTHCHECK CMD ["/myapp"]\nCOPY <<EOF /a.txt\nHello, World!\nEOF\nENTRYPOINT ["/myotherapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n',
    warnings: [multiple('ENTRYPOINT', 3), multiple('CMD', 4), multiple('HEALTHCHECK', 5)],
  },
  {
    name: 'once in each of two stages',
    dockerfile: '\nFROM scratch AS a\nENTRYPOINT ["/myapp"]\nCMD ["/myapp"]\nHEALTHCHECK CMD ["/myapp"]\n\nFROM a AS b\nENTRYPOINT ["/myotherapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n',
    warnings: [],
  },
  // testLegacyKeyValueFormat
  {
    name: 'ENV and LABEL in the legacy form',
    dockerfile: '\nFROM scratch\nENV testkey value\nLABEL key value\n',
    warnings: [
      ['LegacyKeyValueFormat', 3, '"ENV key=value" should be used instead of legacy "ENV key value" format'],
      ['LegacyKeyValueFormat', 4, '"LABEL key=value" should be used instead of legacy "LABEL key value" format'],
    ],
  },
  { name: 'ENV and LABEL with =', dockerfile: '\nFROM scratch\nENV testkey=value\nLABEL key=value\n', warnings: [] },
  {
    name: 'the legacy form in a stage the target does not need',
    dockerfile: '\nFROM scratch AS a\n\nFROM a AS b\nENV testkey value\nLABEL key value\n\nFROM a AS c\n',
    warnings: [],
    all: [
      ['LegacyKeyValueFormat', 5, '"ENV key=value" should be used instead of legacy "ENV key value" format'],
      ['LegacyKeyValueFormat', 6, '"LABEL key=value" should be used instead of legacy "LABEL key value" format'],
    ],
  },
  { name: 'comments skip LegacyKeyValueFormat', dockerfile: '\nFROM scratch\n# check=skip=LegacyKeyValueFormat\nENV testkey value\n# check=skip=LegacyKeyValueFormat\nLABEL key value\n', warnings: [] },
  // testRedundantTargetPlatform
  {
    name: '--platform=$TARGETPLATFORM',
    dockerfile: '\nFROM --platform=$TARGETPLATFORM scratch\n',
    warnings: [['RedundantTargetPlatform', 2, 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior']],
  },
  {
    name: '--platform=${TARGETPLATFORM}',
    dockerfile: '\nFROM --platform=${TARGETPLATFORM} scratch\n',
    warnings: [['RedundantTargetPlatform', 2, 'Setting platform to predefined ${TARGETPLATFORM} in FROM is redundant as this is the default behavior']],
  },
  { name: 'a comment skips RedundantTargetPlatform', dockerfile: '\n# check=skip=RedundantTargetPlatform\nFROM --platform=$TARGETPLATFORM scratch\n', warnings: [] },
  // testInvalidDefaultArgInFrom
  {
    name: 'an ARG without a default makes the image name invalid',
    dockerfile: '\nARG VERSION\nFROM busybox:$VERSION\n',
    buildArgs: { VERSION: 'latest' },
    warnings: [['InvalidDefaultArgInFrom', 3, 'Default value for ARG busybox:$VERSION results in empty or invalid base image name']],
  },
  {
    name: 'an ARG without a default makes the image name empty',
    dockerfile: '\nARG IMAGE\nFROM $IMAGE\n',
    buildArgs: { IMAGE: 'busybox:latest' },
    warnings: [['InvalidDefaultArgInFrom', 3, 'Default value for ARG $IMAGE results in empty or invalid base image name']],
  },
  {
    name: 'a default that leaves an empty tag',
    dockerfile: '\nARG SFX="box:"\nFROM busy${SFX}\n',
    buildArgs: { SFX: 'box:latest' },
    warnings: [['InvalidDefaultArgInFrom', 3, 'Default value for ARG busy${SFX} results in empty or invalid base image name']],
  },
  { name: 'a default that makes a valid name', dockerfile: '\nARG VERSION="latest"\nFROM busybox:${VERSION}\n', buildArgs: { VERSION: 'latest' }, warnings: [] },
  { name: 'an empty default for a tag suffix', dockerfile: '\nARG BUSYBOX_VARIANT=""\nFROM busybox:stable${BUSYBOX_VARIANT}\n', buildArgs: { BUSYBOX_VARIANT: '-musl' }, warnings: [] },
  { name: 'no default for a tag suffix', dockerfile: '\n\tARG BUSYBOX_VARIANT\n\tFROM busybox:stable${BUSYBOX_VARIANT}\n\t', buildArgs: { BUSYBOX_VARIANT: '-musl' }, warnings: [] },
  // testFromPlatformFlagConstDisallowed
  {
    name: 'a constant --platform',
    dockerfile: '\nFROM --platform=linux/amd64 scratch\n',
    warnings: [['FromPlatformFlagConstDisallowed', 2, 'FROM --platform flag should not use constant value "linux/amd64"']],
  },
  { name: 'a constant --platform in a stage named for the architecture', dockerfile: '\nFROM --platform=linux/amd64 scratch AS my_amd64_stage\n', warnings: [] },
  { name: 'a constant --platform in a stage named for the OS', dockerfile: '\nFROM --platform=linux/amd64 scratch AS linux\n', warnings: [] },
  // testExposeProtoCasing
  {
    name: 'EXPOSE protocols in upper case',
    dockerfile: '\nFROM scratch\nEXPOSE 80/TcP 8080/TCP 8080/udp\n',
    warnings: [
      ['ExposeProtoCasing', 3, "Defined protocol '80/TcP' in EXPOSE instruction should be lowercase"],
      ['ExposeProtoCasing', 3, "Defined protocol '8080/TCP' in EXPOSE instruction should be lowercase"],
    ],
  },
  // testExposeInvalidFormat
  {
    name: 'EXPOSE with addresses and host ports',
    dockerfile: '\nFROM scratch\nEXPOSE 127.0.0.1:80:80 [::1]:8080:8080 5000:5000 8000\n',
    warnings: [
      ['ExposeInvalidFormat', 3, "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'"],
      ['ExposeInvalidFormat', 3, "EXPOSE instruction should not define an IP address or host-port mapping, found '[::1]:8080:8080'"],
      ['ExposeInvalidFormat', 3, "EXPOSE instruction should not define an IP address or host-port mapping, found '5000:5000'"],
    ],
  },
];
