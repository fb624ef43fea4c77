export { predefinedArgs } from './args.js';
export { check, checkConfig, baseImagePlatformFinding, type BaseImageInfo, type CheckOptions, type CheckResult, type Finding } from './check.js';
export { parseCheckOptions, DEFAULT_CHECK_CONFIG, type CheckConfig } from './config.js';
export { RULES, RULE_NAMES, MESSAGES, type Rule, type RuleName } from './rules.js';
