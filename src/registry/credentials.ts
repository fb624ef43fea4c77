/**
 * Registry credentials, from where Docker keeps them: an explicit `auth` option first, then
 * `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`): `credHelpers[registry]` or
 * `credsStore` (run as `docker-credential-<name> get`), then `auths[registry].auth` (base64
 * `user:password`). Secrets never leave this module except in an Authorization header; what is
 * reported is only where a credential came from.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HUB } from '../image/index.js';

export interface Credential {
  readonly username: string;
  readonly password: string;
  /** Where it came from, for error messages (never the secret itself). */
  readonly source: string;
}

export type AuthOption = Readonly<Record<string, { readonly username: string; readonly password: string }>>;

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** The keys Docker files a registry under in config.json. */
function keysFor(registry: string): string[] {
  return registry === DOCKER_HUB
    ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io']
    : [registry, `https://${registry}`, `http://${registry}`];
}

function helper(name: string, server: string): Promise<{ username: string; password: string } | undefined> {
  return new Promise((resolve) => {
    const child = execFile(`docker-credential-${name}`, ['get'], { timeout: 10_000 }, (err, stdout) => {
      if (err) return resolve(undefined); // not found for this server, or no such helper
      try {
        const v = JSON.parse(stdout) as { Username?: string; Secret?: string };
        resolve(v.Secret ? { username: v.Username ?? '', password: v.Secret } : undefined);
      } catch {
        resolve(undefined);
      }
    });
    child.stdin?.end(server);
  });
}

export async function findCredential(
  registry: string,
  opts: { readonly auth?: AuthOption; readonly dockerConfigDir?: string },
): Promise<Credential | undefined> {
  const given = opts.auth?.[registry];
  if (given !== undefined) return { ...given, source: 'the auth option' };
  const dir = opts.dockerConfigDir ?? join(homedir(), '.docker');
  const file = join(dir, 'config.json');
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(file, 'utf8')) as DockerConfig;
  } catch {
    return undefined;
  }
  const keys = keysFor(registry);
  const helperName = keys.map((k) => config.credHelpers?.[k]).find((h) => h !== undefined) ?? config.credsStore;
  if (helperName !== undefined) {
    const fromHelper = await helper(helperName, registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry);
    if (fromHelper !== undefined) return { ...fromHelper, source: `docker-credential-${helperName}` };
  }
  for (const k of keys) {
    const entry = config.auths?.[k];
    if (entry?.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1), source: `${file} (auths["${k}"])` };
    }
    if (entry?.username && entry.password) return { username: entry.username, password: entry.password, source: `${file} (auths["${k}"])` };
  }
  return undefined;
}
