/**
 * `keel build`'s command line read as docker's pflag and buildx read it: spellings, defaults,
 * outputs and their attributes, and every refusal naming what is wrong.
 */
import { isKeelError } from '../src';
import { parseBuildCommand } from '../src/cli/build-command';
import { parseOutputSpec, parseOutputs } from '../src/cli/outputs';

const cwd = '/work/here';
const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseBuildCommand(args, env, cwd);

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isKeelError(e, 'E_USAGE')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('no usage error');
}

describe('flag spellings', () => {
  test.each([
    [['-t', 'a:1', '.']],
    [['-ta:1', '.']],
    [['-t=a:1', '.']],
    [['--tag', 'a:1', '.']],
    [['--tag=a:1', '.']],
  ])('%j names the image a:1', (args) => {
    expect(parse(args).options.tags).toEqual(['a:1']);
  });

  test('repeated flags: lists keep every value, single ones the last', () => {
    const c = parse(['-t', 'a', '-t', 'b', '--target', 'x', '--target', 'y', '.']);
    expect(c.options.tags).toEqual(['a', 'b']);
    expect(c.options.target).toBe('y');
  });

  test('booleans take =true/=false, the last word winning; -- ends the flags', () => {
    expect(parse(['--no-cache', '.']).options.noCache).toBe(true);
    expect(parse(['--no-cache', '--no-cache=false', '.']).options.noCache).toBe(false);
    expect(parse(['--no-cache=true', '.']).options.noCache).toBe(true);
    expect(usage(() => parse(['--no-cache=maybe', '.']))).toMatch(/--no-cache/);
    expect(parse(['-q', '--', '-ctx']).context).toBe('-ctx');
  });

  test('--pull is docker\'s boolean (always), keel\'s policy after =', () => {
    expect(parse(['--pull', '.']).options.pull).toBe('always');
    expect(parse(['--pull=never', '.']).options.pull).toBe('never');
    expect(parse(['.']).options.pull).toBeUndefined();
    expect(usage(() => parse(['--pull', 'never', '.']))).toMatch(/--pull=never/);
  });

  test('-f is read from the current folder, - from stdin; the context - is stdin', () => {
    expect(parse(['-f', 'st/Dockerfile.alp', 'st']).dockerfile).toEqual({ path: '/work/here/st/Dockerfile.alp' });
    expect(parse(['-f', '/abs/Dockerfile', 'st']).dockerfile).toEqual({ path: '/abs/Dockerfile' });
    expect(parse(['-f', '-', 'st']).dockerfile).toEqual({ stdin: true });
    expect(parse(['-']).context).toBe('-');
  });

  test('--help needs no context; a missing or second context is an error', () => {
    expect(parse(['--help']).help).toBe(true);
    expect(parse(['-h']).help).toBe(true);
    expect(usage(() => parse([]))).toMatch(/exactly one CONTEXT/);
    expect(usage(() => parse(['a', 'b']))).toMatch(/not 2: a b/);
  });

  test('unknown flags name themselves; buildx flags keel lacks say so', () => {
    expect(usage(() => parse(['--bogus', '.']))).toBe('unknown flag: --bogus');
    expect(usage(() => parse(['-Z', '.']))).toBe('unknown flag: -Z');
    expect(usage(() => parse(['--ssh', 'default', '.']))).toMatch(/^--ssh is not supported yet/);
    expect(usage(() => parse(['--tag']))).toBe('flag needs an argument: --tag');
  });

  test('--label, --annotation, --network, --add-host, --secret', () => {
    const c = parse([
      '--label', 'a=1', '--label', 'b=x=y', '--annotation', 'manifest:org.x=1', '--annotation', 'k=v', '--network', 'none',
      '--add-host', 'db:10.0.0.2', '--add-host', 'v6=fe80::1', '--secret', 'id=t,env=TOK', '.',
    ], { TOK: 's3' });
    expect(c.options.labels).toEqual({ a: '1', b: 'x=y' });
    expect(c.options.annotations).toEqual({ 'org.x': '1', k: 'v' });
    expect(c.options.network).toBe('none');
    expect(c.options.extraHosts).toEqual([{ host: 'db', ip: '10.0.0.2' }, { host: 'v6', ip: 'fe80::1' }]);
    expect(c.options.secrets).toEqual({ t: { value: 's3' } });
    expect(parse(['--network=default', '.']).options.network).toBeUndefined();
    expect(usage(() => parse(['--network', 'bridge', '.']))).toMatch(/default, host, none/);
    expect(usage(() => parse(['--add-host', 'gw:host-gateway', '.']))).toMatch(/host-gateway/);
    expect(usage(() => parse(['--add-host', 'nohost', '.']))).toMatch(/HOST:IP/);
    expect(usage(() => parse(['--annotation', 'index:k=v', '.']))).toMatch(/manifest only/);
    expect(usage(() => parse(['--label', 'nokey', '.']))).toMatch(/KEY=VALUE/);
  });

  test('--build-context: a folder from the current one, docker-image://, oci-layout:// with a tag', () => {
    const c = parse(['--build-context', 'src=../src', '--build-context', 'alpine=docker-image://alpine:3.20', '--build-context', 'lay=oci-layout://out/layout:v1', '--build-context', 'plain=oci-layout:///abs/lay', '.']);
    expect(c.options.namedContexts).toEqual({
      src: { path: '/work/src' }, alpine: { image: 'alpine:3.20' }, lay: { ociLayout: '/work/here/out/layout', tag: 'v1' }, plain: { ociLayout: '/abs/lay' },
    });
    expect(usage(() => parse(['--build-context', 'x=https://github.com/a/b.git', '.']))).toMatch(/no URL, git/);
    expect(usage(() => parse(['--build-context', 'x=oci-layout://l@sha256:abc', '.']))).toMatch(/by digest/);
    expect(usage(() => parse(['--build-context', 'x', '.']))).toMatch(/NAME=VALUE|KEY=VALUE/);
  });

  test('--cache-to and --cache-from in buildx\'s syntax', () => {
    const c = parse(['--cache-to', 'type=registry,ref=r.io/a:cache,mode=max,image-manifest=true', '--cache-to', 'type=local,dest=out/c', '--cache-from', 'r.io/a:cache',
      '--cache-from', 'type=local,src=in/c', '.']);
    expect(c.options.cacheTo).toEqual([{ type: 'registry', ref: 'r.io/a:cache', mode: 'max' }, { type: 'local', dest: '/work/here/out/c' }]);
    expect(c.options.cacheFrom).toEqual([{ type: 'registry', ref: 'r.io/a:cache' }, { type: 'local', src: '/work/here/in/c' }]);
    expect(parse(['--cache-to', 'type=inline', '.']).options.cacheTo).toEqual([{ type: 'inline' }]);
    expect(usage(() => parse(['--cache-from', 'type=inline', '.']))).toMatch(/--cache-from IMAGE/);
    expect(usage(() => parse(['--cache-to', 'type=gha', '.']))).toMatch(/type=registry, type=local or type=inline/);
    expect(usage(() => parse(['--cache-to', 'type=registry,ref=x,mode=all', '.']))).toMatch(/mode is min or max/);
    expect(usage(() => parse(['--cache-to', 'type=registry,ref=x,compression=zstd', '.']))).toMatch(/image's own layers, compressed gzip/);
    expect(parse(['--cache-to', 'type=registry,ref=x,compression=zstd', '-o', 'type=docker,compression=zstd', '.']).options.cacheTo).toEqual([{ type: 'registry', ref: 'x' }]);
    expect(usage(() => parse(['--cache-to', 'type=registry', '.']))).toMatch(/ref= is required/);
    expect(usage(() => parse(['--cache-from', 'type=local,dest=x', '.']))).toMatch(/does not take dest=/);
  });

  test('--progress and -q', () => {
    expect(parse(['--progress=rawjson', '.']).progress).toBe('rawjson');
    expect(parse(['-q', '.']).progress).toBe('quiet');
    expect(usage(() => parse(['--progress', 'fancy', '.']))).toMatch(/rawjson/);
    expect(usage(() => parse(['-q', '-o', '-', '.']))).toMatch(/stdout/);
  });
});

describe('outputs', () => {
  test.each([
    ['out.tar', { kind: 'archive', dest: 'out.tar' }],
    ['-', { kind: 'archive', dest: '-' }],
    ['type=docker', { kind: 'docker' }],
    ['type=docker,name=a:1', { kind: 'docker', names: ['a:1'] }],
    ['type=docker,dest=x.tar', { kind: 'archive', dest: 'x.tar' }],
    ['type=oci,dest=x.tar', { kind: 'archive', dest: 'x.tar' }],
    ['type=oci,dest=dir,tar=false', { kind: 'oci-dir', dest: 'dir' }],
    ['type=oci-dir,dest=dir', { kind: 'oci-dir', dest: 'dir' }],
    ['type=image,push=true,name=r/a:1', { kind: 'registry', names: ['r/a:1'], insecure: false }],
    ['type=registry,"name=r/a:1,r/a:2"', { kind: 'registry', names: ['r/a:1', 'r/a:2'], insecure: false }],
    ['type=registry,registry.insecure=true', { kind: 'registry', insecure: true }],
    ['type=tar,dest=fs.tar', { kind: 'rootfs-tar', dest: 'fs.tar' }],
    ['type=tar,dest=-', { kind: 'rootfs-tar', dest: '-' }],
    ['type=local,dest=out', { kind: 'rootfs-dir', dest: 'out' }],
  ])('-o %s', (spec, want) => {
    expect(parseOutputSpec(spec).output).toEqual(want);
  });

  test('compression= sets the layers\' compression; two outputs must agree', () => {
    expect(parseOutputSpec('type=docker,compression=zstd').compression).toBe('zstd');
    expect(parseOutputSpec('type=oci,dest=x,compression=uncompressed').compression).toBe('none');
    expect(usage(() => parseOutputs(['type=docker,compression=zstd', 'type=oci,dest=x,compression=gzip'], false, false))).toMatch(/one compression/);
    expect(parse(['-o', 'type=docker,compression=zstd', '.']).options.compression).toBe('zstd');
    expect(usage(() => parse(['--compression', 'gzip', '-o', 'type=docker,compression=zstd', '.']))).toMatch(/disagree/);
  });

  test('compression-level= goes with the build\'s compression', () => {
    const c = parse(['-o', 'type=docker,compression=zstd,compression-level=19', '.']);
    expect([c.options.compression, c.options.compressionLevel]).toEqual(['zstd', 19]);
    expect(usage(() => parse(['-o', 'type=docker,compression-level=high', '.']))).toMatch(/whole number/);
    expect(usage(() => parseOutputs(['type=docker,compression-level=1', 'type=oci,dest=x,compression-level=2'], false, false))).toMatch(/one compression-level/);
  });

  test('--load and --push add their outputs; type=image without push keeps the image in the cache', () => {
    expect(parseOutputs([], true, true).outputs).toEqual([{ kind: 'docker' }, { kind: 'registry', insecure: false }]);
    expect(parseOutputs(['type=docker,name=x'], true, false).outputs).toEqual([{ kind: 'docker', names: ['x'] }]);
    expect(parseOutputs(['type=image'], false, false)).toEqual({ outputs: [], cacheOnly: true });
  });

  test('registry.insecure=true makes the names\' registries plain HTTP', () => {
    expect(parse(['-t', 'reg.local:5000/a:1', '-o', 'type=registry,registry.insecure=true', '.']).options.insecureRegistries).toEqual(['reg.local:5000']);
  });

  test.each([
    ['type=weird,dest=x', /unknown type "weird"/],
    ['dest=x', /type= is required/],
    ['type=docker,compression=lz4', /gzip, zstd or uncompressed/],
    ['type=docker,bogus=1', /does not take bogus=/],
    ['type=tar,name=x', /does not take name=/],
    ['type=oci', /dest= is required/],
    ['type=local,dest=-', /type=tar,dest=-/],
    ['type=image,push=maybe', /push wants true or false/],
    ['type=docker,oci-mediatypes=false', /OCI media types only/],
    ['type=docker,rewrite-timestamp=false', /--preserve-timestamps/],
    ['type=docker,"name=a', /quote is not closed/],
  ])('-o %s is refused', (spec, message) => {
    expect(usage(() => parseOutputSpec(spec))).toMatch(message);
  });

  test('two outputs on stdout are refused', () => {
    expect(usage(() => parseOutputs(['-', 'type=tar,dest=-'], false, false))).toMatch(/only one output/);
  });
});
