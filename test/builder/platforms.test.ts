/**
 * Several platforms in one build (linux/amd64 and linux/arm64), with real components: a base index
 * in the local registry made without keel (test/support/multi-arch-base.ts), arm64 RUNs through
 * QEMU registered in binfmt_misc (scripts/test-env.sh), the index pushed and read back by skopeo,
 * each platform pulled and run by docker, and arm64 builds compared with `docker build --platform
 * linux/arm64` file by file.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError, type BuildEvent } from '../../src';
import { comparableConfig, flattenArchive } from '../support/image-tree';
import { BUSYBOX_ARM64, describeIntegration, docker, DOCKER_HOST, REGISTRY, run } from '../support/integration';
import { pushBusyboxIndex } from '../support/multi-arch-base';
import { RUN_CASE_BASE_FILES, RUN_CASES } from '../support/run-cases';

const cli = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

describeIntegration('several platforms in one build', ['docker', 'registry', 'skopeo', 'runc', 'busybox', 'arm64'], () => {
  let dir: string;
  let base: string;
  let ctx: string;
  const pushed = (): string => `${REGISTRY as string}/keel-test/multi:1`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-platforms-'));
    base = `${REGISTRY as string}/keel-test/busybox-multi:1`;
    await pushBusyboxIndex(join(dir, 'base'), base, { files: RUN_CASE_BASE_FILES });
    ctx = join(dir, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'hello.txt'), 'hello\n');
    await writeFile(join(ctx, 'Dockerfile'), [
      `FROM ${base}`,
      'ARG TARGETARCH',
      'RUN uname -m > /arch && echo $TARGETARCH > /targetarch',
      'COPY hello.txt /hello.txt',
      'CMD ["cat", "/arch", "/targetarch", "/hello.txt"]',
      '',
    ].join('\n'));
  }, 180_000);
  afterAll(async () => {
    docker(['rmi', '-f', pushed(), 'keel-test/multi-load:1'], { check: false });
    await rm(dir, { recursive: true, force: true });
  });

  test('keel build --platform linux/amd64,linux/arm64 --push: one tag, an index; docker pulls and runs each platform', () => {
    const r = spawnSync(process.execPath, [cli, 'build', '--platform', 'linux/amd64,linux/arm64', '--push', '-t', pushed(), '--cache-dir', join(dir, 'cache'), '--progress=plain', ctx], {
      encoding: 'utf8', env: { ...process.env, DOCKER_HOST: DOCKER_HOST as string },
    });
    expect([r.status, r.status === 0 ? '' : r.stderr]).toEqual([0, '']);
    // BuildKit's step names with several platforms: the stage's platform first
    expect(r.stderr).toMatch(/\[linux\/arm64 3\/5\] RUN uname -m/);
    expect(r.stderr).toMatch(/exporting manifest list sha256:[0-9a-f]{64}/);

    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${pushed()}`]).stdout) as { mediaType: string; manifests: Array<{ platform: { os: string; architecture: string } }> };
    expect(raw.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(raw.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`)).toEqual(['linux/amd64', 'linux/arm64']);

    docker(['pull', '--platform', 'linux/arm64', pushed()]);
    expect(docker(['image', 'inspect', '--format', '{{.Architecture}}', pushed()]).stdout.trim()).toBe('arm64');
    expect(docker(['run', '--rm', '--network=none', pushed()]).stdout).toBe('aarch64\narm64\nhello\n');
    docker(['rmi', '-f', pushed()]);
    docker(['pull', '--platform', 'linux/amd64', pushed()]);
    expect(docker(['run', '--rm', '--network=none', pushed()]).stdout).toBe('x86_64\namd64\nhello\n');
  }, 300_000);

  test('an OCI archive holds the index (skopeo reads each platform); into docker goes the host\'s image, with a warning', async () => {
    const archive = join(dir, 'multi.tar');
    const result = await build({
      context: ctx, platforms: ['linux/amd64', 'linux/arm64'], tags: ['keel-test/multi-load:1'], cacheDir: join(dir, 'cache'),
      output: [{ type: 'oci-archive', path: archive }, { type: 'docker', host: DOCKER_HOST as string }],
    });
    expect(result.index?.images.map((i) => i.config.architecture)).toEqual(['amd64', 'arm64']);
    expect(result.manifestDigest).toBe(result.index?.indexBlob.digest);
    expect(result.warnings).toEqual([expect.stringContaining('loaded linux/amd64 only')]);

    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci-archive:${archive}`]).stdout) as { mediaType: string };
    expect(raw.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const arm = JSON.parse(run('skopeo', ['inspect', '--override-arch', 'arm64', `oci-archive:${archive}`]).stdout) as { Architecture: string; Digest: string };
    // skopeo names the archive's image by what its name points at: the index
    expect(arm).toMatchObject({ Architecture: 'arm64', Digest: result.manifestDigest });
    const armConfig = JSON.parse(run('skopeo', ['inspect', '--config', '--override-arch', 'arm64', `oci-archive:${archive}`]).stdout) as { architecture: string };
    expect(armConfig.architecture).toBe('arm64');
    expect(docker(['run', '--rm', '--network=none', 'keel-test/multi-load:1']).stdout).toBe('x86_64\namd64\nhello\n');
    // the archive's manifest.json (docker load's classic store) names the same host image
    expect(docker(['load', '-i', archive]).stdout).toContain('keel-test/multi-load:1');
    expect(docker(['image', 'inspect', '--format', '{{.Architecture}}', 'keel-test/multi-load:1']).stdout.trim()).toBe('amd64');
  }, 300_000);

  test('a stage pinned to $BUILDPLATFORM is built once for both targets; the per-target stage sees its TARGETPLATFORM', async () => {
    const c = join(dir, 'cross');
    await mkdir(c);
    // the pinned stage's RUN writes a random id: built twice, the two images would differ
    await writeFile(join(c, 'Dockerfile'), [
      `FROM --platform=$BUILDPLATFORM ${base} AS build`,
      'RUN echo built > /out && cat /proc/sys/kernel/random/uuid >> /out',
      `FROM ${base}`,
      'ARG TARGETPLATFORM',
      'COPY --from=build /out /out',
      'RUN echo $TARGETPLATFORM > /tp && uname -m >> /tp',
      '',
    ].join('\n'));
    const out = join(dir, 'cross-out');
    const events: BuildEvent[] = [];
    const result = await build({
      context: c, platforms: ['linux/amd64', 'linux/arm64'], cacheDir: join(dir, 'cache'), output: { type: 'rootfs-dir', path: out },
      onProgress: (e) => events.push(e),
    });
    const pinned = result.steps.filter((s) => s.name.includes('RUN echo built'));
    expect(pinned.map((s) => s.name)).toEqual(['[linux/amd64 build 2/2] RUN echo built > /out && cat /proc/sys/kernel/random/uuid >> /out']);
    // buildx's local exporter lays several platforms out a folder each
    const [amdOut, armOut] = await Promise.all([readFile(join(out, 'linux_amd64', 'out'), 'utf8'), readFile(join(out, 'linux_arm64', 'out'), 'utf8')]);
    expect(amdOut).toMatch(/^built\n[0-9a-f-]{36}\n$/);
    expect(armOut).toBe(amdOut);
    expect(await readFile(join(out, 'linux_arm64', 'tp'), 'utf8')).toBe('linux/arm64\naarch64\n');
    expect(await readFile(join(out, 'linux_amd64', 'tp'), 'utf8')).toBe('linux/amd64\nx86_64\n');
    expect(events.some((e) => e.type === 'step-start' && e.name.startsWith('[linux/arm64 3/4] COPY --from=build'))).toBe(true);
  }, 300_000);

  test('FROM --platform without a platform asked for: that platform\'s base, and the image says so (dockerfile2llb\'s implicit target)', async () => {
    const c = join(dir, 'pinned');
    await mkdir(c);
    await writeFile(join(c, 'Dockerfile'), `FROM --platform=linux/arm64 ${base}\nCOPY Dockerfile /Dockerfile\n`);
    const out = join(dir, 'pinned-out');
    const result = await build({ context: c, cacheDir: join(dir, 'cache'), output: { type: 'rootfs-dir', path: out } });
    expect(result.image.config.architecture).toBe('arm64');
    expect((await readFile(join(out, 'bin', 'busybox'))).equals(await readFile(BUSYBOX_ARM64 as string))).toBe(true);
  });

  test('a RUN for an architecture no emulator is registered for fails before it runs, naming the emulator (E_EMULATOR)', async () => {
    const c = join(dir, 'riscv');
    await mkdir(c);
    await writeFile(join(c, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /x\nRUN ["/x"]\n');
    let caught: unknown;
    await build({ context: c, platform: 'linux/riscv64', cacheDir: join(dir, 'cache') }).catch((e: unknown) => {
      caught = e;
    });
    expect(isKeelError(caught, 'E_EMULATOR')).toBe(true);
    expect((caught as Error).message).toMatch(/^RUN for linux\/riscv64 needs the qemu-riscv64 emulator, which is not registered/);
    expect((caught as { line?: number }).line).toBe(3);
  });

  test('a base index without the platform asked for: E_PLATFORM naming the platforms it has', async () => {
    await expect(build({ context: ctx, platform: 'linux/s390x', cacheDir: join(dir, 'cache') })).rejects.toThrow(/has no image for linux\/s390x \(it has linux\/amd64, linux\/arm64\)/);
  });

  // the RUN cases of test/builder/run.test.ts, for linux/arm64 under QEMU, against docker build --platform linux/arm64
  test.each(RUN_CASES.map((c) => [c.name, c] as const))('%s for linux/arm64 is what docker build --platform linux/arm64 makes', async (name, c) => {
    const caseDir = join(dir, `arm64-${name}`);
    await mkdir(caseDir);
    await writeFile(join(caseDir, 'Dockerfile'), c.dockerfile(base));
    for (const [p, body] of Object.entries(c.files ?? {})) await writeFile(join(caseDir, p), body);
    const ours = join(dir, `${name}.arm64.keel.tar`);
    await build({ context: caseDir, platform: 'linux/arm64', tags: [`keel-test/${name}-arm64:keel`], cacheDir: join(dir, 'cache'), output: { type: 'oci-archive', path: ours } });
    docker(['build', '--platform', 'linux/arm64', '--network=none', '-q', '-t', `keel-test/${name}-arm64:docker`, caseDir]);
    const theirs = join(dir, `${name}.arm64.docker.tar`);
    docker(['save', '-o', theirs, `keel-test/${name}-arm64:docker`]);
    const [a, b] = await Promise.all([flattenArchive(ours), flattenArchive(theirs)]);
    // docker 20.10's BuildKit leaves the runtime's mount stubs in RUN layers (see run.test.ts)
    for (const stub of ['dev', 'proc', 'sys']) delete b.tree[stub];
    expect(a.tree).toEqual(b.tree);
    expect(comparableConfig(a.config)).toEqual(comparableConfig(b.config));
    expect([a.config.architecture, b.config.architecture]).toEqual(['arm64', 'arm64']);
    docker(['load', '-i', ours]);
    expect(docker(['run', '--rm', '--network=none', `keel-test/${name}-arm64:keel`]).stdout).toBe(c.runs);
    docker(['rmi', '-f', `keel-test/${name}-arm64:keel`, `keel-test/${name}-arm64:docker`], { check: false });
  }, 300_000);
});
