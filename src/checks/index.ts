export { check, checkConfig, baseImagePlatformFinding, predefinedArgs, type BaseImageInfo, type CheckOptions, type CheckResult, type Finding } from './check.js';
export { parseCheckOptions, DEFAULT_CHECK_CONFIG, type CheckConfig } from './config.js';
export { RULES, RULE_NAMES, MESSAGES, type Rule, type RuleName } from './rules.js';
