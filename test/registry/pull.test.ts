/**
 * FROM images pulled from a real registry (Debian's docker-registry on 127.0.0.1, SPEC.md section
 * 8): a busybox base pushed there with skopeo, built on by keel and by docker build, compared and
 * run; a multi-platform index resolved to the right platform; pull policies and digests.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError } from '../../src';
import { comparableConfig, flattenArchive } from '../support/image-tree';
import { busyboxRootfs, dockerBase } from '../support/busybox-base';
import { REGISTRY, describeIntegration, docker, run } from '../support/integration';

describeIntegration('FROM an image in a registry', ['docker', 'busybox', 'skopeo', 'registry'], () => {
  let dir: string;
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-pull-'));
    const rootfs = await busyboxRootfs(join(dir, 'rootfs'), {
      applets: ['sh', 'cat', 'echo', 'id'],
      passwd: 'root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/srv:/bin/sh\n',
      group: 'root:x:0:\nweb:x:33:\n',
    });
    dockerBase(rootfs, 'keel-test/pull-base:1', ['ENV PATH=/bin'], join(dir, 'base.tar'));
    base = `${REGISTRY}/keel-test/busybox:1`;
    run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${join(dir, 'base.tar')}`, `docker://${base}`]);
    docker(['rmi', '-f', 'keel-test/pull-base:1'], { check: false });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('keel and docker build the same image on a pulled base; it runs, and records its base', async () => {
    const ctx = join(dir, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY --chown=web hello.txt /srv/\nUSER web\nCMD ["cat", "/srv/hello.txt"]\n`);
    await writeFile(join(ctx, 'hello.txt'), 'pulled\n');
    const ours = join(dir, 'keel.tar');
    const r = await build({ context: ctx, cacheDir: join(dir, 'cache'), tags: ['keel-test/on-pulled:keel'], output: { type: 'oci-archive', path: ours } });
    expect(r.image.manifest.annotations?.['org.opencontainers.image.base.name']).toBe(`${base}`);
    expect(r.image.manifest.annotations?.['org.opencontainers.image.base.digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    docker(['build', '--network=none', '-q', '-t', 'keel-test/on-pulled:docker', ctx]);
    docker(['save', '-o', join(dir, 'docker.tar'), 'keel-test/on-pulled:docker']);
    const [a, b] = await Promise.all([flattenArchive(ours), flattenArchive(join(dir, 'docker.tar'))]);
    expect(a.tree).toEqual(b.tree);
    expect(comparableConfig(a.config)).toEqual(comparableConfig(b.config));
    docker(['load', '-i', ours]);
    expect(docker(['run', '--rm', '--network=none', 'keel-test/on-pulled:keel']).stdout).toBe('pulled\n');
    docker(['rmi', '-f', 'keel-test/on-pulled:keel', 'keel-test/on-pulled:docker', base], { check: false });

    // by digest, and with pull: 'never' once pulled, the same base is used
    const digest = r.image.manifest.annotations?.['org.opencontainers.image.base.digest'] as string;
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${REGISTRY}/keel-test/busybox@${digest}\nCOPY --chown=web hello.txt /srv/\nUSER web\nCMD ["cat", "/srv/hello.txt"]\n`);
    const byDigest = await build({ context: ctx, cacheDir: join(dir, 'cache') });
    expect(byDigest.layers.map((l) => l.diffId)).toEqual(r.layers.map((l) => l.diffId));
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY hello.txt /\n`);
    await expect(build({ context: ctx, cacheDir: join(dir, 'cache'), pull: 'never' })).resolves.toBeDefined();
    const fresh = await build({ context: ctx, cacheDir: join(dir, 'empty-cache'), pull: 'never' }).then(() => undefined, (e: unknown) => e);
    expect(isKeelError(fresh, 'E_NOT_FOUND')).toBe(true);
  });

  test('a tag pulled before is used as stored; pull: always follows the tag to where it points now', async () => {
    const moving = `${REGISTRY}/keel-test/moving:1`;
    const ctx = join(dir, 'moving');
    await mkdir(ctx, { recursive: true });
    const pushVersion = async (v: string): Promise<string> => {
      await writeFile(join(ctx, 'v.txt'), v);
      await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY v.txt /\n`);
      const r = await build({ context: ctx, cacheDir: join(dir, 'moving-push-cache'), tags: [moving], output: { type: 'registry' } });
      return r.pushed?.[0]?.digest as string;
    };
    const v1 = await pushVersion('one');
    const user = join(dir, 'moving-user');
    await mkdir(user, { recursive: true });
    await writeFile(join(user, 'Dockerfile'), `FROM ${moving}\n`);
    const cacheDir = join(dir, 'moving-cache');
    const baseOf = async (pull?: 'always'): Promise<unknown> =>
      (await build({ context: user, cacheDir, ...(pull === undefined ? {} : { pull }) })).image.manifest.annotations?.['org.opencontainers.image.base.digest'];
    expect(await baseOf()).toBe(v1);
    const v2 = await pushVersion('two');
    expect(v2).not.toBe(v1);
    expect(await baseOf()).toBe(v1); // stored: no registry round trip, as docker build without --pull
    expect(await baseOf('always')).toBe(v2);
    expect(await baseOf()).toBe(v2); // and that is what is stored now
  });

  test('a multi-platform index resolves to the platform asked for', async () => {
    const repo = `${REGISTRY}/keel-test/multi`;
    const manifests: Array<{ mediaType: string; digest: string; size: number; platform: { os: string; architecture: string } }> = [];
    for (const arch of ['amd64', 'arm64']) {
      const ctx = join(dir, `ctx-${arch}`);
      await mkdir(ctx, { recursive: true });
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY arch.txt /\n');
      await writeFile(join(ctx, 'arch.txt'), arch);
      const out = join(dir, `${arch}.tar`);
      const r = await build({ context: ctx, cacheDir: join(dir, 'cache'), platform: `linux/${arch}`, tags: [`${repo}:${arch}`], output: { type: 'oci-archive', path: out } });
      run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${out}`, `docker://${repo}:${arch}`]);
      manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: r.manifestDigest, size: r.image.manifestBlob.size, platform: { os: 'linux', architecture: arch } });
    }
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
    const put = await fetch(`http://${repo.replace(`${REGISTRY}/`, `${REGISTRY}/v2/`)}/manifests/both`, {
      method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index,
    });
    expect(put.status).toBe(201);
    for (const arch of ['arm64', 'amd64']) {
      const ctx = join(dir, `child-${arch}`);
      await mkdir(ctx, { recursive: true });
      await writeFile(join(ctx, 'Dockerfile'), `FROM ${repo}:both\nLABEL built=yes\n`);
      const out = join(dir, `child-${arch}.tar`);
      await build({ context: ctx, cacheDir: join(dir, 'cache'), platform: `linux/${arch}`, output: { type: 'oci-archive', path: out } });
      const { tree } = await flattenArchive(out);
      expect(tree['arch.txt']?.size).toBe(arch.length);
    }
    const none = join(dir, 'child-none');
    await mkdir(none, { recursive: true });
    await writeFile(join(none, 'Dockerfile'), `FROM ${repo}:both\n`);
    const e = await build({ context: none, cacheDir: join(dir, 'cache'), platform: 'linux/s390x' }).then(() => undefined, (x: unknown) => x);
    expect(isKeelError(e, 'E_PLATFORM')).toBe(true);
    expect((e as Error).message).toContain('linux/amd64, linux/arm64');
  });

  test('push: the registry holds the same manifest; docker pulls and runs it; pushing again and mounting work', async () => {
    const ctx = join(dir, 'push');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY msg.txt /\nCMD ["cat", "/msg.txt"]\n`);
    await writeFile(join(ctx, 'msg.txt'), 'pushed by keel\n');
    const target = `${REGISTRY}/keel-test/pushed:1`;
    const r = await build({ context: ctx, cacheDir: join(dir, 'cache'), tags: [target], output: { type: 'registry' } });
    expect(r.pushed).toEqual([{ reference: target, digest: r.manifestDigest }]);
    const inspect = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${target}`]).stdout) as { Digest: string };
    expect(inspect.Digest).toBe(r.manifestDigest);
    docker(['pull', '-q', target]);
    expect(docker(['run', '--rm', '--network=none', target]).stdout).toBe('pushed by keel\n');
    docker(['rmi', '-f', target], { check: false });
    // again (every blob is there) and into another repository (base blobs mounted from theirs)
    const again = await build({ context: ctx, cacheDir: join(dir, 'cache'), tags: [target, `${REGISTRY}/keel-test/elsewhere:2`], output: { type: 'registry' } });
    expect(again.pushed?.map((p) => p.digest)).toEqual([r.manifestDigest, r.manifestDigest]);
    const elsewhere = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${REGISTRY}/keel-test/elsewhere:2`]).stdout) as { Digest: string };
    expect(elsewhere.Digest).toBe(r.manifestDigest);
    // the CLI: --push
    const cli = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
    const out = run(process.execPath, [cli, 'build', '--push', '-t', `${REGISTRY}/keel-test/cli:1`, '--cache-dir', join(dir, 'cache'), '--progress', 'quiet', ctx]);
    expect(out.stderr).toContain(`pushed ${REGISTRY}/keel-test/cli:1@${r.manifestDigest}`);
  });

  test('an unknown tag is E_NOT_FOUND; a registry that is down is E_REGISTRY', async () => {
    const ctx = join(dir, 'missing');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${REGISTRY}/keel-test/busybox:nope\n`);
    const e = await build({ context: ctx, cacheDir: join(dir, 'cache') }).then(() => undefined, (x: unknown) => x);
    expect(isKeelError(e, 'E_NOT_FOUND')).toBe(true);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM 127.0.0.1:1/keel-test/x:1\n');
    const down = await build({ context: ctx, cacheDir: join(dir, 'cache') }).then(() => undefined, (x: unknown) => x);
    expect(isKeelError(down, 'E_REGISTRY')).toBe(true);
    await chmod(ctx, 0o755);
  });
});
