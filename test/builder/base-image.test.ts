/**
 * FROM a base image given as an archive (`baseImages`), against docker build FROM the same image:
 * a busybox root filesystem made from Debian's busybox-static (SPEC.md section 8), `docker import`ed
 * for docker and `docker save`d for keel; and a keel-built OCI archive used as a base in turn.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../src';
import { busyboxRootfs, dockerBase } from '../support/busybox-base';
import { describeIntegration, docker, run } from '../support/integration';
import { comparableConfig, flattenArchive } from '../support/image-tree';

const APPLETS = ['sh', 'cat', 'echo', 'ls', 'id', 'pwd', 'rm', 'mkdir', 'env', 'true', 'test', 'printf'];

describeIntegration('FROM a base image archive, as docker build does it', ['docker', 'busybox'], () => {
  let dir: string;
  let baseTar: string;
  const BASE = 'keel-test/busybox:1';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-base-'));
    const rootfs = await busyboxRootfs(join(dir, 'rootfs'), { applets: APPLETS });
    baseTar = dockerBase(rootfs, BASE, ['ENV PATH=/bin', 'CMD ["/bin/sh"]'], join(dir, 'base.tar'));
  });
  afterAll(async () => {
    docker(['rmi', '-f', BASE], { check: false });
    await rm(dir, { recursive: true, force: true });
  });

  async function compare(name: string, dockerfile: string, files: Record<string, string>, runs?: string): Promise<void> {
    const ctx = join(dir, name);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [p, c] of Object.entries(files)) await writeFile(join(ctx, p), c);
    const ours = join(dir, `${name}.keel.tar`);
    await build({ context: ctx, tags: [`keel-test/${name}:keel`], cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar }, output: { type: 'oci-archive', path: ours } });
    docker(['build', '--network=none', '-q', '-t', `keel-test/${name}:docker`, ctx]);
    const theirs = join(dir, `${name}.docker.tar`);
    docker(['save', '-o', theirs, `keel-test/${name}:docker`]);
    const [a, b] = await Promise.all([flattenArchive(ours), flattenArchive(theirs)]);
    expect(a.tree).toEqual(b.tree);
    expect(comparableConfig(a.config)).toEqual(comparableConfig(b.config));
    docker(['load', '-i', ours]);
    if (runs !== undefined) expect(docker(['run', '--rm', '--network=none', `keel-test/${name}:keel`]).stdout).toBe(runs);
    docker(['rmi', '-f', `keel-test/${name}:keel`, `keel-test/${name}:docker`], { check: false });
  }

  test('files, --chown by a name from the base, whiteout-free overrides, and the base config', async () => {
    await compare(
      'on-busybox',
      `FROM ${BASE}\nCOPY --chown=app:app hello.txt /home/app/\nCOPY passwd /etc/passwd\nENV GREETING=hi\nWORKDIR /home/app\nUSER app\nCMD ["sh", "-c", "echo $GREETING; cat hello.txt; id -u; pwd"]\n`,
      { 'hello.txt': 'hello\n', passwd: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nextra:x:7:7::/:/bin/sh\n' },
      'hi\nhello\n1000\n/home/app\n',
    );
  });

  test('a keel-built OCI archive is a base in turn; ONBUILD triggers run in the child', async () => {
    const parentCtx = join(dir, 'parent');
    await mkdir(parentCtx, { recursive: true });
    await writeFile(join(parentCtx, 'Dockerfile'), `FROM ${BASE}\nCOPY a.txt /srv/\nONBUILD COPY child.txt /srv/\nLABEL parent=yes\n`);
    await writeFile(join(parentCtx, 'a.txt'), 'a');
    const parentTar = join(dir, 'parent.tar');
    await build({ context: parentCtx, tags: ['keel-test/parent:1'], cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar }, output: { type: 'oci-archive', path: parentTar } });
    docker(['load', '-i', parentTar]);

    const childCtx = join(dir, 'child');
    await mkdir(childCtx, { recursive: true });
    await writeFile(join(childCtx, 'Dockerfile'), 'FROM keel-test/parent:1\nCMD ["cat", "/srv/a.txt", "/srv/child.txt"]\n');
    await writeFile(join(childCtx, 'child.txt'), '+child\n');
    const ours = join(dir, 'child.keel.tar');
    await build({ context: childCtx, tags: ['keel-test/child:keel'], cacheDir: join(dir, 'cache'), baseImages: { 'keel-test/parent:1': parentTar }, output: { type: 'oci-archive', path: ours } });
    docker(['build', '--network=none', '-q', '-t', 'keel-test/child:docker', childCtx]);
    const theirs = join(dir, 'child.docker.tar');
    docker(['save', '-o', theirs, 'keel-test/child:docker']);
    const [a, b] = await Promise.all([flattenArchive(ours), flattenArchive(theirs)]);
    expect(a.tree).toEqual(b.tree);
    expect(comparableConfig(a.config)).toEqual(comparableConfig(b.config));
    docker(['load', '-i', ours]);
    expect(docker(['run', '--rm', '--network=none', 'keel-test/child:keel']).stdout).toBe('a+child\n');
    docker(['rmi', '-f', 'keel-test/child:keel', 'keel-test/child:docker', 'keel-test/parent:1'], { check: false });
  });
});

describe('FROM a named context that is an OCI layout (image-sources.ts)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-oci-layout-base-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('the tagged image is the stage\'s base: its layers first, its config\'s ENV kept; a tag it lacks is an error', async () => {
    const ctx = join(dir, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'a'), 'a\n');
    await writeFile(join(ctx, 'b'), 'b\n');
    const layout = join(dir, 'layout');
    const base = await build({
      context: ctx, dockerfile: { text: 'FROM scratch\nCOPY a /a\nENV FROM_BASE=yes\n' }, cacheDir: join(dir, 'cache'),
      tags: ['example.com/base:1'], output: { type: 'oci-dir', path: layout },
    });
    const on = await build({
      context: ctx, dockerfile: { text: 'FROM base\nCOPY b /b\n' }, cacheDir: join(dir, 'cache'),
      namedContexts: { base: { ociLayout: layout, tag: '1' } },
    });
    expect(on.layers.map((l) => l.digest)).toEqual([...base.layers.map((l) => l.digest), on.layers[1]?.digest]);
    expect(on.image.config.config?.Env).toContain('FROM_BASE=yes');
    await expect(build({
      context: ctx, dockerfile: { text: 'FROM base\nCOPY b /b\n' }, cacheDir: join(dir, 'cache'),
      namedContexts: { base: { ociLayout: layout, tag: '2' } },
    })).rejects.toMatchObject({ code: 'E_BUILD_INPUT', message: expect.stringMatching(/no image tagged "2" in its index\.json/) });
  });
});
