/**
 * `keel build` used as `docker buildx build` is used, run as a process: into the Docker daemon,
 * to stdout, root file systems, a context and a Dockerfile on stdin, metadata, labels, RUN's
 * network and hosts, paths checked before the build, signals; then a table of buildx command
 * lines from Docker's documentation, each with the outcome docker gives.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxArchive } from './support/busybox-base';
import { describeIntegration, docker, DOCKER_HOST, REGISTRY, run } from './support/integration';

const root = join(__dirname, '..');
const cli = join(root, 'dist', 'cli', 'main.js');

describeIntegration('keel build as docker buildx build', ['docker', 'busybox', 'runc', 'registry', 'skopeo'], () => {
  let dir: string;
  let ctx: string;
  let base: string;
  let cache: string;

  /** keel build with the test's base and cache; DOCKER_HOST is the test daemon. */
  const keel = (args: readonly string[], opts: { cwd?: string; input?: Buffer | string; env?: Record<string, string> } = {}): SpawnSyncReturns<Buffer> =>
    spawnSync(process.execPath, [cli, 'build', '--base-image', `base=${base}`, '--cache-dir', cache, ...args], {
      cwd: opts.cwd ?? dir, env: { ...process.env, DOCKER_HOST: DOCKER_HOST as string, ...opts.env }, maxBuffer: 256 * 1024 * 1024,
      ...(opts.input === undefined ? {} : { input: opts.input }),
    });
  const err = (r: SpawnSyncReturns<Buffer>): string => r.stderr.toString('utf8');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keel-buildx-'));
    cache = join(dir, 'cache');
    base = await busyboxArchive(join(dir, 'base'));
    ctx = join(dir, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'hello.txt'), 'hello from keel\n');
    writeFileSync(join(ctx, 'Dockerfile'), [
      'FROM base AS build',
      'ARG USED=1',
      'COPY hello.txt /hello.txt',
      'CMD ["cat", "/hello.txt"]',
      '',
    ].join('\n'));
    writeFileSync(join(ctx, 'Dockerfile.run'), [
      'FROM base',
      'RUN cat /etc/hosts > /hosts.txt && ls /sys/class/net > /nets.txt',
      '',
    ].join('\n'));
  }, 120_000);
  afterAll(() => {
    docker(['rmi', '-f', 'keel-test/cli-load:1', 'keel-test/cli-named:1', 'app:1', 'app:latest', 'keel-example/hello:1'], { check: false });
    rmSync(dir, { recursive: true, force: true });
  });

  test('--load puts the image into the daemon at DOCKER_HOST (Engine API, no docker CLI), and docker runs it', () => {
    const r = keel(['--load', '-t', 'keel-test/cli-load:1', ctx]);
    expect(err(r)).toContain('loaded into the Docker daemon: Loaded image: keel-test/cli-load:1');
    expect(r.status).toBe(0);
    expect(docker(['run', '--rm', '--network=none', 'keel-test/cli-load:1']).stdout).toBe('hello from keel\n');
    // -o type=docker,name= names it instead of the tags
    expect(keel(['-o', 'type=docker,name=keel-test/cli-named:1', '-t', 'ignored:1', ctx]).status).toBe(0);
    expect(docker(['image', 'inspect', 'keel-test/cli-named:1']).status).toBe(0);
    expect(docker(['image', 'inspect', 'ignored:1'], { check: false }).status).not.toBe(0);
  });

  test('a daemon that cannot be reached is E_DOCKER, exit 1, naming it', () => {
    const r = keel(['--load', ctx], { env: { DOCKER_HOST: `unix://${join(dir, 'no.sock')}` } });
    expect(r.status).toBe(1);
    expect(err(r)).toContain(`cannot load the image into the Docker daemon at unix://${join(dir, 'no.sock')}`);
  });

  test('-o - writes the same archive to stdout as -o FILE writes to the file, and docker load takes it', () => {
    const file = join(dir, 'img.tar');
    expect(keel(['-q', '-o', file, ctx]).status).toBe(0);
    const r = keel(['--progress', 'quiet', '-o', '-', ctx]);
    expect(r.status).toBe(0);
    expect(r.stdout.equals(readFileSync(file))).toBe(true);
    const piped = join(dir, 'piped.tar');
    writeFileSync(piped, r.stdout);
    expect(docker(['load', '-i', piped]).stdout).toMatch(/Loaded image ID: sha256:|Loaded image:/);
  });

  test('type=tar and type=local write the root file system docker export gives; local merges into a folder', () => {
    const tarFile = join(dir, 'fs.tar');
    const local = join(dir, 'local');
    mkdirSync(local);
    writeFileSync(join(local, 'mine.txt'), 'kept\n');
    expect(keel(['-o', `type=tar,dest=${tarFile}`, '-o', `type=local,dest=${local}`, ctx]).status).toBe(0);
    const names = (list: string): string[] => list.split('\n').map((l) => l.replace(/^\.\//, '').replace(/\/$/, '')).filter((l) => l !== '' && l !== '.').sort();
    docker(['create', '--name', 'keel-cli-export', 'keel-test/cli-load:1']);
    try {
      const exported = join(dir, 'export.tar');
      docker(['export', '-o', exported, 'keel-cli-export']);
      // docker export adds the runtime's own paths (.dockerenv, /dev, /proc, /sys, /etc/hosts...): compare what the image has
      const ours = names(run('tar', ['-tf', tarFile]).stdout);
      const theirs = new Set(names(run('tar', ['-tf', exported]).stdout));
      expect(ours.filter((p) => !theirs.has(p))).toEqual([]);
    } finally {
      docker(['rm', '-f', 'keel-cli-export'], { check: false });
    }
    expect(readFileSync(join(local, 'hello.txt'), 'utf8')).toBe('hello from keel\n');
    expect(existsSync(join(local, 'bin', 'busybox'))).toBe(true);
    expect(readFileSync(join(local, 'mine.txt'), 'utf8')).toBe('kept\n');
  });

  test('a context on stdin (tar, gzip) builds the image the folder builds; a Dockerfile on stdin (-f - or context -) too', () => {
    const iid = (args: string[], opts: Parameters<typeof keel>[1] = {}): string => {
      const r = keel(['-q', ...args], opts);
      expect(err(r)).toBe('');
      expect(r.status).toBe(0);
      return r.stdout.toString('utf8').trim();
    };
    const fromFolder = iid([ctx]);
    expect(iid(['-'], { input: spawnSync('tar', ['-C', ctx, '-cf', '-', '.']).stdout })).toBe(fromFolder);
    expect(iid(['-'], { input: spawnSync('tar', ['-C', ctx, '-czf', '-', '.']).stdout })).toBe(fromFolder);
    expect(iid(['-f', '-', ctx], { input: readFileSync(join(ctx, 'Dockerfile')) })).toBe(fromFolder);
    // docker build - < Dockerfile: no context, so a Dockerfile without COPY
    expect(iid(['-'], { input: 'FROM base\nLABEL from=stdin\n' })).toMatch(/^sha256:[0-9a-f]{64}$/);
    const both = keel(['-f', '-', '-'], { input: '' });
    expect([both.status, err(both)]).toEqual([2, expect.stringContaining('cannot both come from stdin')]);
  });

  test('-f is read from the current folder, as docker reads it', () => {
    const sub = join(dir, 'sub');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'Dockerfile.alt'), 'FROM base\nCOPY hello.txt /alt.txt\n');
    const r = keel(['-q', '-f', 'sub/Dockerfile.alt', 'ctx'], { cwd: dir });
    expect([r.status, err(r)]).toEqual([0, '']);
    const missing = keel(['-f', 'nope/Dockerfile', 'ctx'], { cwd: dir });
    expect([missing.status, err(missing)]).toEqual([2, expect.stringContaining(join(dir, 'nope', 'Dockerfile'))]);
  });

  test('--metadata-file, --label, --annotation, and the warnings docker prints', () => {
    const md = join(dir, 'md.json');
    const archive = join(dir, 'meta.tar');
    const iidFile = join(dir, 'iid');
    const r = keel(['-t', 'keel-test/meta:1', '--label', 'org.example.team=infra', '--annotation', 'org.example.note=yes', '--build-arg', 'NOPE=1',
      '--build-arg', 'USED=2', '--build-arg', 'HTTP_PROXY=http://proxy:3128', '--metadata-file', md, '--iidfile', iidFile, '-o', archive, ctx]);
    expect(r.status).toBe(0);
    expect(err(r)).toContain('[Warning] One or more build-args [NOPE] were not consumed\n');
    const meta = JSON.parse(readFileSync(md, 'utf8')) as Record<string, unknown>;
    expect(meta['containerimage.config.digest']).toBe(readFileSync(iidFile, 'utf8'));
    expect(meta['image.name']).toBe('keel-test/meta:1');
    const inspect = JSON.parse(run('skopeo', ['inspect', '--raw', `oci-archive:${archive}`]).stdout) as { annotations?: Record<string, string> };
    expect(inspect.annotations?.['org.example.note']).toBe('yes');
    const raw = spawnSync('skopeo', ['inspect', '--raw', `oci-archive:${archive}`]).stdout;
    const manifestDigest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    expect(meta['containerimage.digest']).toBe(manifestDigest);
    expect(meta['containerimage.descriptor']).toEqual({ digest: manifestDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: raw.length });
    const config = JSON.parse(run('skopeo', ['inspect', '--config', `oci-archive:${archive}`]).stdout) as { config: { Labels?: Record<string, string> } };
    expect(config.config.Labels).toEqual({ 'org.example.team': 'infra' });
    const none = keel([ctx]);
    expect(err(none)).toContain('WARNING: No output specified.');
  });

  test('RUN sees --add-host in /etc/hosts, and only loopback with --network none', () => {
    const out = join(dir, 'run-out');
    const r = keel(['-f', join(ctx, 'Dockerfile.run'), '--add-host', 'db.internal:10.1.2.3', '--network', 'none', '-o', `type=local,dest=${out}`, ctx]);
    expect([r.status, err(r)]).toEqual([0, expect.any(String)]);
    expect(readFileSync(join(out, 'hosts.txt'), 'utf8')).toContain('10.1.2.3\tdb.internal\n');
    expect(readFileSync(join(out, 'nets.txt'), 'utf8').trim().split('\n')).toEqual(['lo']);
    // without them: the host's network (more than loopback), no such line
    const plain = join(dir, 'run-plain');
    expect(keel(['-f', join(ctx, 'Dockerfile.run'), '-o', `type=local,dest=${plain}`, ctx]).status).toBe(0);
    expect(readFileSync(join(plain, 'hosts.txt'), 'utf8')).not.toContain('db.internal');
    expect(readFileSync(join(plain, 'nets.txt'), 'utf8').trim().split('\n').length).toBeGreaterThan(1);
  });

  test('an output that cannot be written is found before the build, naming the user\'s path', () => {
    const r = keel(['--progress', 'plain', '-o', '/nonexistent/dir/img.tar', ctx]);
    expect(r.status).toBe(2);
    expect(err(r)).toBe('keel: the output file /nonexistent/dir/img.tar: the folder /nonexistent/dir does not exist\n');
    const ctxMissing = keel([join(dir, 'no-such-context')]);
    expect([ctxMissing.status, err(ctxMissing)]).toEqual([2, `keel: the build context ${join(dir, 'no-such-context')} does not exist\n`]);
  });

  test.each([['SIGINT', 130], ['SIGTERM', 143]] as const)('%s during a RUN: exit %d, nothing half-written left', async (signal, status) => {
    const sctx = join(dir, `sig-${signal}`);
    mkdirSync(sctx);
    writeFileSync(join(sctx, 'Dockerfile'), 'FROM base\nRUN sleep 30\n');
    const out = join(dir, `sig-${signal}-out`);
    mkdirSync(out);
    const child = spawn(process.execPath, [cli, 'build', '--base-image', `base=${base}`, '--cache-dir', cache, '--progress', 'plain', '-o', join(out, 'img.tar'), sctx], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const running = new Promise<void>((resolve) => child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes('RUN sleep 30')) resolve();
    }));
    await running;
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    child.kill(signal);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(status);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(stderr).toContain(`keel: interrupted (${signal})`);
    expect(readdirSync(out)).toEqual([]);
  }, 60_000);

  test('--push sends each tag to its registry', () => {
    const ref = `${REGISTRY as string}/keel-test/cli-push:1`;
    const r = keel(['--push', '-t', ref, ctx]);
    expect(r.status).toBe(0);
    expect(err(r)).toMatch(new RegExp(`pushed ${ref.replace(/[.]/g, '\\.')}@sha256:[0-9a-f]{64}`));
    expect(run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]).status).toBe(0);
  });

  test('--build-context: a folder for COPY --from (over a stage of that name), an image over --base-image, an OCI layout by tag', () => {
    const extra = join(dir, 'extra');
    mkdirSync(extra, { recursive: true });
    writeFileSync(join(extra, 'note.txt'), 'from the named context\n');
    const nctx = join(dir, 'named-ctx');
    mkdirSync(nctx, { recursive: true });
    writeFileSync(join(nctx, 'Dockerfile'), 'FROM scratch AS src\nFROM base\nCOPY --from=src note.txt /note.txt\n');
    const out = join(dir, 'named-out');
    const r = keel(['--build-context', `src=${extra}`, '-o', `type=local,dest=${out}`, nctx]);
    expect([r.status, err(r)]).toEqual([0, expect.any(String)]);
    expect(readFileSync(join(out, 'note.txt'), 'utf8')).toBe('from the named context\n');
    // docker-image:// wins over --base-image (and over a stage) of the same name: the pushed image is the base
    const pushed = `${REGISTRY as string}/keel-test/cli-push:1`;
    const md = join(dir, 'named-md.json');
    const img = join(dir, 'named-img.tar');
    const viaImage = keel(['--build-context', `base=docker-image://${pushed}`, '--build-context', `src=${extra}`, '--metadata-file', md, '-o', img, nctx]);
    expect([viaImage.status, err(viaImage)]).toEqual([0, expect.any(String)]);
    const manifest = JSON.parse(spawnSync('skopeo', ['inspect', '--raw', `oci-archive:${img}`]).stdout.toString()) as { annotations?: Record<string, string> };
    expect(manifest.annotations?.['org.opencontainers.image.base.name']).toBe(pushed);
    // an OCI layout folder keel wrote, by its tag
    const layout = join(dir, 'layout');
    expect(keel(['-t', 'keel-test/layout:v1', '-o', `type=oci,tar=false,dest=${layout}`, ctx]).status).toBe(0);
    writeFileSync(join(nctx, 'Dockerfile.lay'), 'FROM lay\nCOPY --from=lay /hello.txt /again.txt\n');
    const out2 = join(dir, 'named-out2');
    const l = keel(['-f', join(nctx, 'Dockerfile.lay'), '--build-context', `lay=oci-layout://${layout}:v1`, '-o', `type=local,dest=${out2}`, nctx]);
    expect([l.status, err(l)]).toEqual([0, expect.any(String)]);
    expect(readFileSync(join(out2, 'again.txt'), 'utf8')).toBe('hello from keel\n');
    expect(existsSync(join(out2, 'bin', 'busybox'))).toBe(true);
    const missingTag = keel(['-f', join(nctx, 'Dockerfile.lay'), '--build-context', `lay=oci-layout://${layout}:v9`, nctx]);
    expect([missingTag.status, err(missingTag)]).toEqual([2, expect.stringContaining('no image tagged "v9"')]);
    // FROM a folder is not supported yet, and says so
    writeFileSync(join(nctx, 'Dockerfile.from'), 'FROM src\n');
    const f = keel(['-f', join(nctx, 'Dockerfile.from'), '--build-context', `src=${extra}`, nctx]);
    expect([f.status, err(f)]).toEqual([1, expect.stringContaining('a folder as a base')]);
  });

  test('--progress=rawjson: a pull\'s bytes per blob, the context read, the export as a step of its own with its bytes', () => {
    const pctx = join(dir, 'pull-ctx');
    mkdirSync(pctx, { recursive: true });
    writeFileSync(join(pctx, 'Dockerfile'), `FROM ${REGISTRY as string}/keel-test/cli-push:1\nCOPY Dockerfile /d\n`);
    const r = spawnSync(process.execPath, [cli, 'build', '--cache-dir', join(dir, 'fresh-cache'), '--progress=rawjson', '-o', join(dir, 'pulled.tar'), pctx], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; step: number; id?: string; name?: string; current?: number; total?: number; done?: boolean });
    const from = events.find((e) => e.type === 'step-start' && e.name?.includes('FROM'))?.step;
    const pulled = events.filter((e) => e.type === 'step-progress' && e.step === from && e.done === true);
    expect(pulled.length).toBeGreaterThanOrEqual(2); // the config and the layer
    for (const p of pulled) expect([p.id, p.current]).toEqual([expect.stringMatching(/^sha256:[0-9a-f]{64}$/), p.total]);
    const copy = events.find((e) => e.type === 'step-start' && e.name?.includes('COPY'))?.step;
    expect(events.some((e) => e.type === 'step-progress' && e.step === copy && e.id === 'transferring context' && e.done === true)).toBe(true);
    const exporting = events.find((e) => e.type === 'step-start' && e.name === `exporting to image archive ${join(dir, 'pulled.tar')}`);
    expect(exporting?.step).toBe(3);
    const sent = events.filter((e) => e.type === 'step-progress' && e.step === 3 && e.id === 'sending tarball');
    expect(sent.at(-1)).toMatchObject({ done: true, current: readFileSync(join(dir, 'pulled.tar')).length });
    expect(events.some((e) => e.type === 'step-progress' && e.step === 3 && /^exporting manifest sha256:[0-9a-f]{64}$/.test(e.id ?? '') && e.done === true)).toBe(true);
    expect(events.some((e) => e.type === 'step-done' && e.step === 3)).toBe(true);
  });

  test('examples/load.js loads the hello image built on a base, and docker runs it; examples/push.js pushes it', () => {
    const env = { ...process.env, DOCKER_HOST: DOCKER_HOST as string, KEEL_CACHE_DIR: cache };
    const load = spawnSync(process.execPath, [join(root, 'examples', 'load.js'), `busybox=${base}`], { encoding: 'utf8', env });
    expect([load.status, load.stdout]).toEqual([0, 'Loaded image: keel-example/hello:1\ntry: docker run --rm keel-example/hello:1\n']);
    expect(docker(['run', '--rm', '--network=none', 'keel-example/hello:1']).stdout).toBe(`${readFileSync(join(root, 'examples', 'hello', 'hello.txt'), 'utf8')}hello from a keel-built image\n`);
    const ref = `${REGISTRY as string}/keel-example/hello:1`;
    const push = spawnSync(process.execPath, [join(root, 'examples', 'push.js'), ref], { encoding: 'utf8', env });
    expect([push.status, push.stdout]).toEqual([0, expect.stringMatching(new RegExp(`^pushed ${ref.replace(/[.]/g, '\\.')}@sha256:[0-9a-f]{64}\n$`))]);
  });

  /**
   * Command lines from `docker buildx build`'s documentation (docs.docker.com reference and
   * the build guides), with `docker buildx build` replaced by `keel build`, the outcome docker gives.
   */
  const DOCS: ReadonlyArray<{ readonly line: string; readonly status: number; readonly check?: (r: SpawnSyncReturns<Buffer>) => void }> = [
    { line: '-t app:1 .', status: 0, check: (r) => expect(err(r)).toContain('No output specified') },
    { line: '--tag app:1 --tag app:latest --load .', status: 0 },
    { line: '-f Dockerfile --target build -o out.tar .', status: 0 },
    { line: '--build-arg USED=2 --no-cache -q .', status: 0, check: (r) => expect(r.stdout.toString()).toMatch(/^sha256:[0-9a-f]{64}\n$/) },
    { line: '--progress=plain .', status: 0, check: (r) => expect(err(r)).toMatch(/^#1 \[/) },
    { line: '--output type=local,dest=out-local .', status: 0 },
    { line: '-o type=tar,dest=out-fs.tar .', status: 0 },
    { line: '--output type=docker,dest=out-docker.tar .', status: 0 },
    { line: '--output type=oci,dest=out-oci.tar .', status: 0 },
    { line: '--output type=docker .', status: 0 },
    { line: '--platform linux/arm64 -o out-arm.tar .', status: 0 },
    { line: '--pull --load .', status: 0 },
    { line: '--metadata-file metadata.json .', status: 0, check: () => expect(existsSync(join(ctx, 'metadata.json'))).toBe(true) },
    { line: '--label org.opencontainers.image.title=app .', status: 0 },
    { line: '--network=host .', status: 0 },
    { line: '--add-host=docker:10.180.0.1 .', status: 0 },
    { line: '--platform linux/amd64,linux/arm64 -o type=oci,dest=out-multi.tar .', status: 0, check: (r) => expect(err(r)).toMatch(/image index sha256:[0-9a-f]{64} \(linux\/amd64, linux\/arm64\)/) },
    { line: '--cache-to type=local,dest=cache-out,mode=max .', status: 0, check: () => expect(existsSync(join(ctx, 'cache-out', 'index.json'))).toBe(true) },
    { line: '--cache-from type=local,src=cache-out --no-cache=false .', status: 0 },
    { line: '--cache-to type=inline -o out-inline.tar .', status: 0 },
    { line: '--cache-to type=gha .', status: 2, check: (r) => expect(err(r)).toContain('type=registry, type=local or type=inline') },
    { line: '--ssh default .', status: 2 },
    { line: '-o type=registry .', status: 2, check: (r) => expect(err(r)).toContain('a push needs a name') },
  ];
  test.each(DOCS)('keel build $line', ({ line, status, check }) => {
    const r = keel(line.split(' '), { cwd: ctx });
    expect([r.status, r.status === status ? '' : err(r)]).toEqual([status, '']);
    check?.(r);
  });
});
