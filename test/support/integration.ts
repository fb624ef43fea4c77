/**
 * Real components for integration tests (SPEC.md section 8): a Docker Engine (its socket from
 * KEEL_DOCKER_HOST, as scripts/test-env.sh starts it, or DOCKER_HOST), skopeo, umoci and
 * busybox-static. A suite that needs a missing one skips with a notice; with
 * KEEL_REQUIRE_INTEGRATION=1 (CI) it fails instead.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';

export type Component = 'docker' | 'skopeo' | 'umoci' | 'busybox' | 'registry' | 'auth-registry' | 'token-registry' | 'runc' | 'crun' | 'debian' | 'userns' | 'arm64';

const required = process.env.KEEL_REQUIRE_INTEGRATION === '1';
export const DOCKER_HOST = process.env.KEEL_DOCKER_HOST ?? process.env.DOCKER_HOST;
/** The Debian docker.io client (SPEC.md: a newer client on PATH may lack buildx). */
const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
export const BUSYBOX = '/bin/busybox';
/** Debian's busybox-static for arm64 (scripts/test-env.sh fetches it where QEMU's aarch64 emulator is registered). */
export const BUSYBOX_ARM64 = process.env.KEEL_BUSYBOX_ARM64;
/** An open registry on loopback (scripts/test-env.sh starts one at 127.0.0.1:5000). */
export const REGISTRY = process.env.KEEL_REGISTRY;
/** A registry behind htpasswd Basic auth, and its test-only account. */
export const AUTH_REGISTRY = process.env.KEEL_AUTH_REGISTRY;
/** A registry with `auth: token` trusting KEEL_TOKEN_CERT; the tests serve its realm with KEEL_TOKEN_KEY. */
export const TOKEN_REGISTRY = process.env.KEEL_TOKEN_REGISTRY;
export const TOKEN_REALM = process.env.KEEL_TOKEN_REALM ?? '';
export const TOKEN_KEY = process.env.KEEL_TOKEN_KEY ?? '';
export const TOKEN_CERT = process.env.KEEL_TOKEN_CERT ?? '';
/** The Debian minbase image in the open registry, and as an archive (scripts/debian-base.sh). */
export const DEBIAN_IMAGE = process.env.KEEL_DEBIAN_IMAGE;
export const DEBIAN_ARCHIVE = process.env.KEEL_DEBIAN_ARCHIVE;
/** Where the open registry keeps its data (for tests that damage a blob). */
export const REGISTRY_DATA = process.env.KEEL_REGISTRY_DATA;
export const AUTH_USER = process.env.KEEL_AUTH_REGISTRY_USER ?? '';
export const AUTH_PASSWORD = process.env.KEEL_AUTH_REGISTRY_PASSWORD ?? '';

function present(c: Component): boolean {
  switch (c) {
    case 'docker':
      return DOCKER_HOST !== undefined && run(DOCKER, ['info'], { check: false }).status === 0;
    case 'runc':
      // RUN runs containers as root here (rootless is the RUN issue's next part)
      return process.getuid?.() === 0 && run('which', ['runc'], { check: false }).status === 0;
    case 'crun':
      return process.getuid?.() === 0 && run('which', ['crun'], { check: false }).status === 0;
    case 'skopeo':
    case 'umoci':
      return run('which', [c], { check: false }).status === 0;
    case 'registry':
      return REGISTRY !== undefined && run('curl', ['-fsS', `http://${REGISTRY}/v2/`], { check: false }).status === 0;
    case 'auth-registry':
      return AUTH_REGISTRY !== undefined && run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${AUTH_REGISTRY}/v2/`], { check: false }).stdout === '401';
    case 'token-registry':
      return TOKEN_REGISTRY !== undefined && TOKEN_KEY !== '' && run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${TOKEN_REGISTRY}/v2/`], { check: false }).stdout === '401';
    case 'userns':
      // as root (to make the test user), util-linux's unshare --map-auto (2.38+) and newuidmap (Debian's uidmap)
      return process.getuid?.() === 0 && run('unshare', ['--help'], { check: false }).stdout.includes('--map-auto') && existsSync('/usr/bin/newuidmap');
    case 'debian':
      return DEBIAN_IMAGE !== undefined && DEBIAN_ARCHIVE !== undefined && existsSync(DEBIAN_ARCHIVE);
    case 'arm64':
      // the arm64 binary runs here: binfmt_misc hands it to qemu-aarch64
      return BUSYBOX_ARM64 !== undefined && run(BUSYBOX_ARM64, ['uname', '-m'], { check: false }).stdout === 'aarch64\n';
    case 'busybox':
      // Debian's busybox-static (the plain busybox package is dynamically linked)
      return existsSync(BUSYBOX) && run('dpkg', ['-s', 'busybox-static'], { check: false }).status === 0;
  }
}

const cache = new Map<Component, boolean>();
export const available = (c: Component): boolean => {
  if (!cache.has(c)) cache.set(c, present(c));
  return cache.get(c) as boolean;
};

/** `describe` when every component is there; a notice (or, when required, a failing test) otherwise. */
export function describeIntegration(name: string, needs: readonly Component[], fn: () => void): void {
  const missing = needs.filter((c) => !available(c));
  if (missing.length === 0) {
    describe(name, fn);
  } else if (required) {
    describe(name, () => {
      test('integration components are present', () => {
        throw new Error(`missing for integration tests: ${missing.join(', ')} (KEEL_REQUIRE_INTEGRATION=1)`);
      });
    });
  } else {
    // eslint-disable-next-line no-console
    console.warn(`keel: ${name}: skipped, missing ${missing.join(', ')} (run: bash scripts/test.sh as root)`);
    describe.skip(name, fn);
  }
}

export function run(
  cmd: string,
  args: readonly string[],
  opts: { check?: boolean; input?: string; cwd?: string; env?: Record<string, string> } = {},
): SpawnSyncReturns<string> {
  const env = { ...process.env, ...(DOCKER_HOST === undefined ? {} : { DOCKER_HOST }), DOCKER_BUILDKIT: '1', ...opts.env };
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 256 * 1024 * 1024, ...(opts.cwd ? { cwd: opts.cwd } : {}), ...(opts.input !== undefined ? { input: opts.input } : {}) });
  if ((opts.check ?? true) && r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr || r.error?.message || ''}`);
  }
  return r;
}

export const docker = (args: readonly string[], opts: { check?: boolean; input?: string; cwd?: string } = {}) => run(DOCKER, args, opts);

/** docker without blocking this process (for tests whose server docker must reach). */
export function dockerAsync(args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, ...(DOCKER_HOST === undefined ? {} : { DOCKER_HOST }), DOCKER_BUILDKIT: '1' };
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER, args, { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => (status === 0 ? resolve({ status, stdout, stderr }) : reject(new Error(`docker ${args.join(' ')} exited ${status}: ${stderr}`))));
  });
}
