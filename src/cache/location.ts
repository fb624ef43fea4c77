import { homedir } from 'node:os';
import { join } from 'node:path';

/** The default cache folder (SPEC.md section 1): $KEEL_CACHE_DIR, else $XDG_CACHE_HOME/keel, else ~/.cache/keel. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.KEEL_CACHE_DIR) return env.KEEL_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'keel');
  return join(homedir(), '.cache', 'keel');
}
