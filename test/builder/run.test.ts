/**
 * RUN under runc, against docker build (BuildKit) on a busybox base from Debian's busybox-static:
 * files created, changed and deleted (whiteouts), folders deleted and recreated, links, special
 * modes, USER by name, WORKDIR, ENV and ARG, SHELL, exec form; and, on keel alone, heredoc RUNs,
 * a failing RUN and the cache.
 */
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, isKeelError, type BuildEvent } from '../../src';
import { comparableConfig, flattenArchive } from '../support/image-tree';
import { busyboxRootfs, dockerBase } from '../support/busybox-base';
import { ociArchiveOf } from '../support/oci-archive';
import { tarOfHeaders } from '../support/tar-fixtures';
import { BUSYBOX, describeIntegration, docker, run } from '../support/integration';
import { RUN_CASE_BASE_FILES, RUN_CASES } from '../support/run-cases';

const APPLETS = ['sh', 'cat', 'echo', 'ls', 'id', 'pwd', 'rm', 'mkdir', 'touch', 'chmod', 'ln', 'printf', 'true', 'false', 'mv', 'sed', 'env', 'grep', 'sort'];

describeIntegration('RUN, as docker build runs it', ['docker', 'busybox', 'runc'], () => {
  let dir: string;
  let baseTar: string;
  const BASE = 'keel-test/run-base:1';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-run-'));
    const rootfs = await busyboxRootfs(join(dir, 'rootfs'), {
      applets: APPLETS,
      passwd: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n',
      // supplementary groups: root is in wheel, app in wheel and staff
      group: 'root:x:0:\nwheel:x:10:root,app\nstaff:x:50:app\napp:x:1001:\n',
      files: RUN_CASE_BASE_FILES,
    });
    baseTar = dockerBase(rootfs, BASE, ['ENV PATH=/bin'], join(dir, 'base.tar'));
  });
  afterAll(async () => {
    docker(['rmi', '-f', BASE], { check: false });
    await rm(dir, { recursive: true, force: true });
  });

  async function compare(name: string, dockerfile: string, runs?: string, extra: { files?: Record<string, string>; secret?: string; stubs?: string[]; buildArgs?: Record<string, string>; setAside?: string[] } = {}): Promise<void> {
    const ctx = join(dir, name);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [p, c] of Object.entries(extra.files ?? {})) {
      await mkdir(join(ctx, p, '..'), { recursive: true });
      await writeFile(join(ctx, p), c);
    }
    const secretFile = join(dir, `${name}.secret`);
    if (extra.secret !== undefined) await writeFile(secretFile, extra.secret);
    const ours = join(dir, `${name}.keel.tar`);
    await build({
      context: ctx, tags: [`keel-test/${name}:keel`], cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar }, output: { type: 'oci-archive', path: ours },
      ...(extra.secret === undefined ? {} : { secrets: { tok: { path: secretFile } } }),
      ...(extra.buildArgs === undefined ? {} : { buildArgs: extra.buildArgs }),
    });
    const buildArgs = Object.entries(extra.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
    docker(['build', '--network=none', '-q', ...buildArgs, ...(extra.secret === undefined ? [] : ['--secret', `id=tok,src=${secretFile}`]), '-t', `keel-test/${name}:docker`, ctx]);
    const theirs = join(dir, `${name}.docker.tar`);
    docker(['save', '-o', theirs, `keel-test/${name}:docker`]);
    const [a, b] = await Promise.all([flattenArchive(ours), flattenArchive(theirs)]);
    // docker 20.10's BuildKit leaves the runtime's mount stubs in RUN layers; current BuildKit removes
    // them (executor/stubs.go) and so does keel (SPEC.md section 7): set those aside, and check keel's are gone
    for (const stub of ['dev', 'proc', 'sys', ...(extra.stubs ?? [])]) {
      expect(a.tree[stub]).toBeUndefined();
      delete b.tree[stub];
    }
    // files where docker 20.10's BuildKit and current BuildKit differ: keel follows current BuildKit (`runs` checks them)
    for (const path of extra.setAside ?? []) {
      delete a.tree[path];
      delete b.tree[path];
    }
    expect(a.tree).toEqual(b.tree);
    expect(comparableConfig(a.config)).toEqual(comparableConfig(b.config));
    docker(['load', '-i', ours]);
    if (runs !== undefined) expect(docker(['run', '--rm', '--network=none', `keel-test/${name}:keel`]).stdout).toBe(runs);
    docker(['rmi', '-f', `keel-test/${name}:keel`, `keel-test/${name}:docker`], { check: false });
  }

  test.each(RUN_CASES.map((c) => [c.name, c] as const))('%s: files created, changed and deleted, links and modes, COPY --from after RUN', async (_name, c) => {
    await compare(c.name, c.dockerfile(BASE), c.runs, c.files === undefined ? {} : { files: c.files });
  });

  // BuildKit's executor (executor/oci/user.go GetUser, WithUIDGID): USER without a group gets the
  // groups /etc/group lists the user in, root included, the primary gid first; USER name:group none
  // besides the group (the kernel lists them in numbers' order). Docker 20.10's BuildKit (v0.8) gave root none and left the primary gid out
  // (`groups=10(wheel),50(staff)`): current BuildKit is followed, and the id files are set aside on
  // docker's side (the image's output below checks keel's)
  test('RUN\'s supplementary groups follow USER as current BuildKit gives them', async () => {
    await compare('run-groups', [
      `FROM ${BASE}`,
      'RUN id > /tmp/id-default',
      'USER app',
      'RUN id > /tmp/id-app',
      'USER 1000',
      'RUN id > /tmp/id-1000',
      'USER app:staff',
      'RUN id > /tmp/id-app-staff',
      'USER 1000:50',
      'RUN id > /tmp/id-numeric',
      'USER root',
      'CMD ["cat", "/tmp/id-default", "/tmp/id-app", "/tmp/id-1000", "/tmp/id-app-staff", "/tmp/id-numeric"]',
    ].join('\n'), [
      'uid=0(root) gid=0(root) groups=0(root),10(wheel)',
      'uid=1000(app) gid=1001(app) groups=10(wheel),50(staff),1001(app)',
      'uid=1000(app) gid=1001(app) groups=10(wheel),50(staff),1001(app)',
      'uid=1000(app) gid=50(staff) groups=50(staff)',
      'uid=1000(app) gid=50(staff) groups=50(staff)',
      '',
    ].join('\n'), { setAside: ['tmp/id-default', 'tmp/id-app', 'tmp/id-1000', 'tmp/id-app-staff', 'tmp/id-numeric'] });
  });

  // BuildKit's predefined proxy ARGs (dockerfile2llb proxyEnvFromBuildArgs): in RUN's environment
  // in both spellings without an ARG, and never in the image's config or history
  test('proxy build args reach RUN without an ARG, and stay out of the image', async () => {
    await compare('run-proxy', [
      `FROM ${BASE}`,
      'RUN env | grep -i _proxy | sort > /proxy.txt',
      'CMD ["cat", "/proxy.txt"]',
    ].join('\n'), 'HTTPS_PROXY=http://proxy.example:3129\nHTTP_PROXY=http://proxy.example:3128\nNO_PROXY=localhost\nhttp_proxy=http://proxy.example:3128\nhttps_proxy=http://proxy.example:3129\nno_proxy=localhost\n', {
      buildArgs: { HTTP_PROXY: 'http://proxy.example:3128', https_proxy: 'http://proxy.example:3129', NO_PROXY: 'localhost' },
    });
  });

  test('a base without /etc: the folder runc makes for /etc/hosts is not in the layer', async () => {
    await mkdir(join(dir, 'run-no-etc'), { recursive: true });
    await copyFile(BUSYBOX, join(dir, 'run-no-etc', 'busybox'));
    await compare('run-no-etc', [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'RUN ["/bin/busybox", "touch", "/made"]',
    ].join('\n'), undefined, { stubs: ['etc', 'etc/hosts', 'etc/resolv.conf'] });
  });

  test('the copy path (no overlayfs) makes the same image as the overlayfs path', async () => {
    const ctx = join(dir, 'copy-path');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), [
      `FROM ${BASE}`,
      'RUN echo made > /made.txt && echo changed > /etc/motd && rm /bin/false && rm -r /old && mkdir -p /old/new && echo n > /old/new/y',
      'RUN ln /made.txt /hard && chmod 600 /made.txt && mkdir /sticky && chmod 1777 /sticky',
    ].join('\n'));
    const overlay = join(dir, 'overlay-path.tar');
    await build({ context: ctx, cacheDir: join(dir, 'cache-overlay'), baseImages: { [BASE]: baseTar }, output: { type: 'oci-archive', path: overlay } });
    // the probe is once per process: the copy path runs in a Node process of its own
    const copy = join(dir, 'copy-path.tar');
    const script = `require(${JSON.stringify(join(__dirname, '..', '..', 'dist'))}).build(${JSON.stringify({
      context: ctx, cacheDir: join(dir, 'cache-copy'), baseImages: { [BASE]: baseTar }, output: { type: 'oci-archive', path: copy },
    })}).catch((e) => { console.error(e); process.exit(1); })`;
    run(process.execPath, ['-e', script], { env: { KEEL_RUN_ROOTFS: 'copy' } });
    const [a, b] = await Promise.all([flattenArchive(overlay), flattenArchive(copy)]);
    expect(a.tree['old/inner']).toBeUndefined();
    expect(a.tree['bin/false']).toBeUndefined();
    expect(b.tree).toEqual(a.tree);
  });

  test('USER by name, WORKDIR, ENV and ARG, SHELL, exec form', async () => {
    await compare('run-env', [
      `FROM ${BASE}`,
      'ARG V=argvalue',
      'ENV E=envvalue',
      'RUN echo "$V $E" > /vars.txt',
      'WORKDIR /work/dir',
      'RUN pwd > where.txt',
      'USER app',
      'RUN id -u > /tmp/uid && id -g >> /tmp/uid && touch /tmp/owned',
      'USER 0',
      'SHELL ["/bin/sh", "-ec"]',
      'RUN echo shell > /shell.txt',
      'RUN ["/bin/sh", "-c", "echo exec > /exec.txt"]',
    ].join('\n'));
  });

  test('RUN --mount: cache, bind from the context and from a stage, tmpfs, secret', async () => {
    // a cache mount outlives builds (in keel's cacheDir and in dockerd): a fresh id keeps both sides empty
    const cacheId = `parity-${process.pid}-${Date.now()}`;
    await compare('run-mounts', [
      `FROM ${BASE} AS tools`,
      'RUN mkdir /tools && echo tool > /tools/t',
      `FROM ${BASE}`,
      `RUN --mount=type=cache,id=${cacheId},target=/cache sh -c "echo run1 >> /cache/log; cat /cache/log > /seen1"`,
      'RUN --mount=type=bind,source=data,target=/mnt/data cp -r /mnt/data /copied',
      'RUN --mount=type=bind,from=tools,source=/tools,target=/mnt/tools cat /mnt/tools/t > /from-stage',
      'RUN --mount=type=tmpfs,target=/scratch sh -c "echo tmp > /scratch/t; ls /scratch > /tmpls"',
      'RUN --mount=type=secret,id=tok sh -c "cat /run/secrets/tok | sed s/s3cret/hidden/ > /secret-seen"',
    ].join('\n'), undefined, {
      files: { 'data/a.txt': 'a', 'data/sub/b.txt': 'b' },
      secret: 'the-s3cret',
      // docker 20.10 also leaves the stubs of these mount points behind
      stubs: ['cache', 'mnt', 'mnt/data', 'mnt/tools', 'scratch', 'run', 'run/secrets', 'run/secrets/tok'],
    });
  });

  test('RUN --mount=type=cache,source= mounts a folder inside the cache', async () => {
    const cacheId = `sub-${process.pid}-${Date.now()}`;
    await compare('cache-source', [
      `FROM ${BASE}`,
      `RUN --mount=type=cache,id=${cacheId},target=/all sh -c "mkdir -p /all/sub && echo pre > /all/sub/p"`,
      `RUN --mount=type=cache,id=${cacheId},target=/c,source=sub sh -c "cat /c/p > /seen; echo in-sub > /c/f"`,
      `RUN --mount=type=cache,id=${cacheId},target=/all sh -c "cat /all/sub/f > /seen2"`,
    ].join('\n'), undefined, { stubs: ['all', 'c'] });
  });

  test('keel alone: a cache mount source that leads out of the cache by a symlink stays inside it', async () => {
    const ctx = join(dir, 'cache-escape');
    await mkdir(ctx, { recursive: true });
    const cacheId = `escape-${process.pid}-${Date.now()}`;
    await writeFile(join(ctx, 'Dockerfile'), [
      `FROM ${BASE}`,
      `RUN --mount=type=cache,id=${cacheId},target=/all sh -c "mkdir -p /all/inside && ln -s / /all/up && echo f > /all/file && ln -s ../../../../../../file /all/tofile"`,
      `RUN --mount=type=cache,id=${cacheId},target=/c,source=up/inside sh -c "echo planted > /c/x"`,
    ].join('\n'));
    await build({ context: ctx, cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar } });
    expect(() => readFileSync('/inside/x')).toThrow();
    // a source through a link that leads to no folder inside the cache is refused
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${BASE}\nRUN --mount=type=cache,id=${cacheId},target=/c,source=tofile true\n`);
    const err = await build({ context: ctx, cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar } }).catch((e: unknown) => e);
    expect(isKeelError(err, 'E_BUILD_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(/cache mount source "tofile" is not a folder in cache/);
  });

  test('keel alone: a cache mount persists across builds; a secret is in no layer and no cache key', async () => {
    const ctx = join(dir, 'mount-keel');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${BASE}\nRUN --mount=type=cache,id=shared,target=/c sh -c "echo x >> /c/count; cat /c/count > /n"\nRUN --mount=type=secret,id=tok,env=TOKEN sh -c "echo \\\${#TOKEN} > /len"\n`);
    const opts = { context: ctx, cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar } };
    const first = await build({ ...opts, secrets: { tok: { value: 'first-secret-value' } }, output: { type: 'oci-archive', path: join(dir, 'm1.tar') } });
    await build({ ...opts, noCache: true, secrets: { tok: { value: 'first-secret-value' } }, output: { type: 'oci-archive', path: join(dir, 'm2.tar') } });
    const t1 = (await flattenArchive(join(dir, 'm1.tar'))).tree;
    const t2 = (await flattenArchive(join(dir, 'm2.tar'))).tree;
    expect([t1.n?.size, t2.n?.size]).toEqual([2, 4]); // the second build saw the first one's line
    expect(t1.len?.size).toBe(3); // "18\n": the secret reached the command through the environment
    expect(readFileSync(join(dir, 'm1.tar')).includes('first-secret-value')).toBe(false);
    expect(JSON.stringify(first.image.config)).not.toContain('first-secret-value');
    const events: BuildEvent[] = [];
    await build({ ...opts, secrets: { tok: { value: 'another-value' } }, onProgress: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'step-done' && e.name.includes('RUN')).map((e) => (e as { cached: boolean }).cached)).toEqual([true, true]);
  });

  test('keel alone: a whiteout of a name no lower layer has is not a name RUN sees, nor a deletion in its layer', async () => {
    // a base of one layer holding busybox and `.wh.ghost`, with nothing below it to delete
    const tar = await tarOfHeaders([
      { name: 'bin/', type: 'directory', mode: 0o755 },
      { name: 'bin/busybox', mode: 0o755, body: readFileSync(BUSYBOX) },
      ...['sh', 'ls', 'grep'].map((a) => ({ name: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' })),
      { name: '.wh.ghost', body: '' },
    ]);
    const archive = join(dir, 'ghost-base.tar');
    await ociArchiveOf(archive, [tar]);
    const ctx = join(dir, 'ghost');
    await mkdir(ctx, { recursive: true });
    // the RUN fails if it sees the name, and changes nothing otherwise: a deletion it reported would be a layer
    await writeFile(join(ctx, 'Dockerfile'), 'FROM ghostbase\nRUN ! ls -a / | grep -q ghost\n');
    const r = await build({ context: ctx, cacheDir: join(dir, 'cache-ghost'), baseImages: { ghostbase: archive } });
    expect(r.layers).toHaveLength(1);
  });

  test('keel alone: a RUN\'s output reaches the events as whole lines, however the chunks fall', async () => {
    const ctx = join(dir, 'lines');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${BASE}\nRUN printf 'npm '; sleep 0.3; printf 'WARN EBADENGINE\\nnext '; sleep 0.3; printf 'line\\n'; printf 'no newline at the end'\n`);
    const events: BuildEvent[] = [];
    await build({ context: ctx, cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar }, noCache: true, onProgress: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'log').map((e) => (e as { line: string }).line)).toEqual(['npm WARN EBADENGINE', 'next line', 'no newline at the end']);
  });

  test('keel alone: RUN --network=none has only loopback; the default its own namespace (tap0 of slirp4netns); host the host\'s, when allowed', async () => {
    const ctx = join(dir, 'network');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${BASE}\nRUN --network=none cat /proc/net/dev > /none\nRUN cat /proc/net/dev > /default\nRUN --network=host cat /proc/net/dev > /host\n`);
    const out = join(dir, 'network.tar');
    await build({ context: ctx, cacheDir: join(dir, 'cache'), tags: ['keel-test/network:keel'], baseImages: { [BASE]: baseTar }, output: { type: 'oci-archive', path: out }, allow: ['network.host'] });
    docker(['load', '-i', out]);
    const read = (f: string): string[] => {
      const text = docker(['run', '--rm', '--network=none', '--entrypoint', '/bin/cat', 'keel-test/network:keel', f]).stdout;
      return text.split('\n').slice(2).filter((l) => l.trim() !== '').map((l) => l.trim().split(':')[0] as string);
    };
    const hostInterfaces = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).filter((l) => l.trim() !== '').map((l) => l.trim().split(':')[0] as string);
    expect(read('/none')).toEqual(['lo']);
    expect(read('/default').sort()).toEqual(['lo', 'tap0']);
    expect(read('/host').sort()).toEqual(hostInterfaces.sort());
    docker(['rmi', '-f', 'keel-test/network:keel'], { check: false });
  });

  test('keel alone: heredoc RUNs, a failing RUN, and the cache', async () => {
    const ctx = join(dir, 'keel-only');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${BASE}\nRUN <<EOF\necho one > /h1\necho two >> /h1\nEOF\nRUN cat > /h2 <<EOT\nbody\nEOT\n`);
    const events: BuildEvent[] = [];
    const out = join(dir, 'heredoc.tar');
    await build({ context: ctx, cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar }, output: { type: 'oci-archive', path: out }, onProgress: (e) => events.push(e) });
    const { tree } = await flattenArchive(out);
    expect(tree.h1?.size).toBe('one\ntwo\n'.length);
    expect(tree.h2?.size).toBe('body\n'.length);
    const again: BuildEvent[] = [];
    await build({ context: ctx, cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar }, onProgress: (e) => again.push(e) });
    expect(again.filter((e) => e.type === 'step-done' && e.name.includes('RUN')).map((e) => (e as { cached: boolean }).cached)).toEqual([true, true]);

    await writeFile(join(ctx, 'Dockerfile'), `FROM ${BASE}\nRUN echo failing && echo to stderr >&2 && exit 3\n`);
    const failed = await build({ context: ctx, cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar } }).then(() => undefined, (e: unknown) => e);
    expect(isKeelError(failed, 'E_RUN')).toBe(true);
    // stdout and stderr come through two pipes, so their lines may arrive in either order
    expect((failed as Error).message).toMatch(/exited with code 3:\n(failing\nto stderr|to stderr\nfailing)$/);
    const logs: BuildEvent[] = [];
    await build({ context: ctx, cacheDir: join(dir, 'cache'), baseImages: { [BASE]: baseTar }, onProgress: (e) => logs.push(e) }).catch(() => undefined);
    expect(logs.filter((e) => e.type === 'log').map((e) => (e as { line: string }).line).sort()).toEqual(['failing', 'to stderr']); // not cached: it ran again
  });
  test('keel alone: a RUN cached with gzip layers is not reused for a zstd build (the layers\' compression is in its key)', async () => {
    const ctx = join(dir, 'zstd-ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${BASE}\nRUN echo made > /made\n`);
    const cache = join(dir, 'zstd-cache');
    const gz = await build({ context: ctx, cacheDir: cache, baseImages: { [BASE]: baseTar } });
    const again = await build({ context: ctx, cacheDir: cache, baseImages: { [BASE]: baseTar } });
    expect(again.layers.at(-1)).toMatchObject({ digest: gz.layers.at(-1)?.digest });
    const zs = await build({ context: ctx, cacheDir: cache, baseImages: { [BASE]: baseTar }, compression: 'zstd' });
    expect(zs.image.manifest.layers.at(-1)?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(zs.layers.at(-1)?.diffId).toBe(gz.layers.at(-1)?.diffId);
  });
});
