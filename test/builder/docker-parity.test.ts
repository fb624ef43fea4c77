/**
 * Differential tests (SPEC.md section 8): the same Dockerfile and context built by keel and by
 * `docker build` (BuildKit, /usr/bin/docker), compared as flattened file trees (path, type, mode,
 * uid, gid, size, content, link target) and configs. keel's archive must also `docker load`, and
 * run where the image has a shell. Only features Debian's docker 20.10 frontend knows are used
 * here (no heredocs, --link, --exclude, --parents); those are tested against keel alone.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../src';
import { BUSYBOX, BUSYBOX_ARM64, describeIntegration, docker, run } from '../support/integration';
import { comparableConfig, flattenArchive } from '../support/image-tree';
import { writeContext, type FileSpec } from '../support/context-files';


interface Case {
  files: Record<string, FileSpec>;
  dockerfile: string;
  buildArgs?: Record<string, string>;
  target?: string;
  /** `docker run` of keel's image prints this. */
  runs?: string;
}

const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n';
const group = 'root:x:0:\nstaff:x:50:\napp:x:1000:\n';

const cases: Record<string, Case> = {
  'COPY files and folders, with the destination rules': {
    files: { 'a.txt': 'a\n', 'dir/b.txt': 'b\n', 'dir/sub/c.txt': 'c\n', 'dir/empty/.keep': '' },
    dockerfile: 'FROM scratch\nCOPY a.txt /x/\nCOPY a.txt /renamed\nCOPY dir /d\nCOPY dir/ /e/\nCOPY a.txt dir/b.txt /many/\n',
  },
  'wildcards follow filepath.Match and may match nothing': {
    files: { 'one.txt': '1', 'two.txt': '2', 'x.md': 'x', 'src/p1/b1': 'b', 'src/p2/b2': 'b', 'src/q/b3': 'b' },
    dockerfile: 'FROM scratch\nCOPY *.txt /w/\nCOPY src/p*/b* /w2/\nCOPY nomatch* /none/\nCOPY [ot]*.txt /w3/\n',
  },
  '.dockerignore with exceptions applies to COPY .': {
    files: {
      '.dockerignore': '*.log\n**/*.tmp\nsecret\ndocs\n!docs/keep.md\n',
      'a.log': 'l', 'b.txt': 'b', 'x/y.tmp': 't', 'x/z.txt': 'z', secret: 's', 'docs/keep.md': 'k', 'docs/drop.md': 'd',
    },
    dockerfile: 'FROM scratch\nCOPY . /ctx/\n',
  },
  'modes are kept; --chmod and numeric --chown apply': {
    files: {
      'run.sh': { content: '#!/bin/sh\n', mode: 0o755 }, 'private': { content: 'p', mode: 0o600 }, 'd/f': 'f',
      'closed/inner': { dir: 0o700 }, 'closed/inner/x': 'x',
    },
    // (--chmod into an existing folder: a folder COPY --chmod makes takes the mode in current BuildKit,
    // 0755 in docker 20.10's; buildkit-parity.test.ts testCopyChmod checks keel's against BuildKit's test)
    dockerfile: 'FROM scratch\nCOPY run.sh private /m/\nCOPY --chmod=640 run.sh /m/run-640.sh\nCOPY --chown=1000:2000 d /o/\nCOPY --chown=33 private /o1/\nCOPY closed /closed/\nCOPY closed/inner /inner-as-dest\n',
  },
  '--chown by name reads /etc/passwd and /etc/group of the image': {
    files: { passwd, group, 'a.txt': 'a' },
    dockerfile: 'FROM scratch\nCOPY passwd group /etc/\nCOPY --chown=app:staff a.txt /home/app/\nCOPY --chown=web a.txt /srv/\n',
  },
  '--chown by a user name alone gives the user\'s primary group from /etc/passwd; a numeric uid alone gives gid = uid': {
    files: { passwd: 'root:x:0:0:root:/root:/bin/sh\nsvc:x:1001:2002::/srv:/bin/sh\n', group: 'root:x:0:\nsvcs:x:2002:\n', 'a.txt': 'a' },
    dockerfile: 'FROM scratch\nCOPY passwd group /etc/\nCOPY --chown=svc a.txt /by-name/\nCOPY --chown=1001 a.txt /by-id/\n',
  },
  'symlinks in the context are copied as links; a source link is followed': {
    files: { 'real.txt': 'r', 'dir/link': { symlink: '../real.txt' }, 'dir/abs': { symlink: '/etc/passwd' }, top: { symlink: 'real.txt' } },
    dockerfile: 'FROM scratch\nCOPY dir /d/\nCOPY top /t/\n',
  },
  'multi-stage: --from by name and by index, FROM an earlier stage': {
    files: { 'a.txt': 'a', 'b.txt': 'b' },
    dockerfile: 'FROM scratch AS one\nCOPY a.txt /one/\nFROM scratch\nCOPY b.txt /two/\nFROM one AS three\nCOPY --from=1 /two /from-index/\nCOPY --from=one /one/a.txt /from-name.txt\n',
  },
  '--target builds the named stage only': {
    files: { 'a.txt': 'a' },
    dockerfile: 'FROM scratch AS first\nCOPY a.txt /first.txt\nLABEL stage=first\nFROM scratch\nCOPY a.txt /last.txt\n',
    target: 'first',
  },
  'ARG and ENV: globals in FROM, build args, expansion in COPY and ENV': {
    files: { 'v1/a.txt': 'a', 'v2/a.txt': 'b' },
    dockerfile: 'ARG BASE=scratch\nFROM ${BASE}\nARG VERSION=v1\nARG UNUSED\nENV DEST=/opt/$VERSION other="two words"\nENV COPYOF=${DEST}-copy\nCOPY ${VERSION}/a.txt $DEST/\nCOPY ${VERSION:-x}/ ${COPYOF}/\n',
    buildArgs: { VERSION: 'v2' },
  },
  'config instructions': {
    files: { 'a.txt': 'a' },
    dockerfile: [
      'FROM scratch',
      'COPY a.txt /', // docker 20.10 cannot `docker save` an image without layers
      'LABEL a=1 "b c"="d e"',
      'LABEL a=2',
      'EXPOSE 80 443/tcp 53/udp 8000-8002',
      'VOLUME /data ["/logs", "/cache"]',
      'STOPSIGNAL SIGQUIT',
      'HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD ["/bin/check", "-q"]',
      'USER 1000:1000',
      'SHELL ["/bin/bash", "-eu", "-c"]',
      'ENTRYPOINT echo from shell',
      'CMD ["arg1", "arg2"]',
      'ONBUILD COPY . /src',
      'MAINTAINER someone@example.com',
      'ENV A=1 B=2',
      'ENV A=3',
    ].join('\n'),
  },
  'ENTRYPOINT after CMD keeps the CMD; CMD shell form uses /bin/sh -c': {
    files: { 'a.txt': 'a' },
    dockerfile: 'FROM scratch\nCOPY a.txt /\nCMD echo hi\nENTRYPOINT ["/e"]\n',
  },
  'WORKDIR creates folders; relative COPY destinations follow it': {
    files: { 'a.txt': 'a' },
    dockerfile: 'FROM scratch\nWORKDIR /app\nWORKDIR sub/dir\nCOPY a.txt .\nCOPY a.txt rel/\nWORKDIR /\nCOPY a.txt ./root.txt\n',
  },
  'a busybox image runs, with ENV, USER and WORKDIR in effect': {
    files: { busybox: { busybox: true }, 'hello.sh': { content: 'echo "$GREETING from $(pwd) as $(id -u)"\n', mode: 0o755 } },
    dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY hello.sh /usr/local/bin/\nENV GREETING=hello PATH=/bin:/usr/local/bin\nWORKDIR /work\nUSER 4242\nCMD ["/bin/busybox", "sh", "/usr/local/bin/hello.sh"]\n',
    runs: 'hello from /work as 4242\n',
  },
  'COPY --from a stage keeps its owners unless --chown is given': {
    files: { 'a.txt': 'a' },
    dockerfile: 'FROM scratch AS s\nCOPY --chown=7:8 a.txt /x/a.txt\nFROM scratch\nCOPY --from=s /x /kept/\nCOPY --from=s --chown=9:9 /x /changed/\n',
  },
  'ADD extracts local tar and tar.gz archives, and copies other files': {
    files: {
      'plain.tar': { tar: [{ name: 'p/', type: 'directory' }, { name: 'p/one.txt', body: '1', mode: 0o600, uid: 5, gid: 6 }, { name: 'p/link', type: 'symlink', linkname: 'one.txt' }] },
      'packed.bin': { tar: [{ name: 'z/deep/two.txt', body: '22' }, { name: 'z/hard', type: 'link', linkname: 'z/deep/two.txt' }], gzip: true },
      'notes.txt': 'just a file',
      'b.tbz': { tar: [{ name: 'bz/file', body: 'bzip2' }], compress: 'bzip2' },
      'x.txz': { tar: [{ name: 'xz/file', body: 'xz' }], compress: 'xz' },
    },
    // (ADD --chown of an archive is left out: docker 20.10's BuildKit ignores it, current BuildKit applies it)
    dockerfile: 'FROM scratch\nADD plain.tar /x/\nADD packed.bin /y\nADD notes.txt /z/\nADD b.tbz x.txz /c/\n',
  },
  // BuildKit resolves a COPY destination through symlinks inside the root (continuity fs.RootPath;
  // dockerfile_core_test.go testSymlinkDestination): the files land where the link points, the link stays
  'COPY to a destination that is a symlink, relative (climbing out of the root) or absolute': {
    files: {
      foo: 'content0',
      't.tar': { tar: [{ name: 'symlink', type: 'symlink', linkname: '../tmp/symlink-target' }, { name: 'abslink', type: 'symlink', linkname: '/opt/abs-target' }, { name: 'opt/', type: 'directory' }, { name: 'opt/abs-target/', type: 'directory' }] },
    },
    dockerfile: 'FROM scratch\nADD t.tar /\nCOPY foo /symlink/\nCOPY foo /abslink/\nCOPY foo /abslink/sub/\n',
  },
  'a Dockerfile in a subfolder with its own .dockerignore': {
    files: { 'build/app.Dockerfile': 'FROM scratch\nCOPY . /c/\n', 'build/app.Dockerfile.dockerignore': 'b.txt\nbuild\n', '.dockerignore': 'a.txt\n', 'a.txt': 'a', 'b.txt': 'b' },
    dockerfile: '',
  },
};

/** The Dockerfile with `COPY busybox /bin/busybox` after the FROM of the stage that is built. */
function withBusybox(dockerfile: string, target?: string): string {
  const lines = dockerfile.split('\n');
  const froms = lines.map((l, i) => [l, i] as const).filter(([l]) => /^FROM /i.test(l));
  const chosen = target === undefined ? froms.at(-1) : froms.find(([l]) => l.toLowerCase().endsWith(` as ${target}`));
  if (chosen === undefined) throw new Error('no FROM to add busybox after');
  lines.splice(chosen[1] + 1, 0, 'COPY busybox /bin/busybox');
  return lines.join('\n');
}


// every case for the host's platform, then for linux/arm64 (busybox for arm64 in each image, run through QEMU)
describe.each([['linux/amd64', ['docker', 'busybox', 'skopeo', 'umoci']], ['linux/arm64', ['docker', 'busybox', 'skopeo', 'umoci', 'arm64']]] as const)('%s', (platform, needs) => {
describeIntegration('keel builds what docker build builds', needs, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-parity-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test.each(Object.entries(cases))('%s', async (name, c) => {
    const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 40).replace(/^-+|-+$/g, '');
    const ctx = join(dir, slug, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeContext(ctx, { ...c.files, busybox: { busybox: true } }, platform === 'linux/arm64' ? (BUSYBOX_ARM64 as string) : BUSYBOX);
    const dockerfile = c.dockerfile === '' ? 'build/app.Dockerfile' : 'Dockerfile';
    // every image gets busybox, right after the target stage's FROM, so that each one can be run
    const text = c.dockerfile === '' ? (c.files['build/app.Dockerfile'] as string) : c.dockerfile;
    await writeFile(join(ctx, dockerfile), withBusybox(text, c.target));
    const tag = `keel-parity/${slug}-${platform.split('/')[1] as string}`;

    const ours = join(dir, slug, 'keel.tar');
    await build({
      context: ctx, dockerfile, tags: [`${tag}:keel`], cacheDir: join(dir, 'cache'), platform,
      output: { type: 'oci-archive', path: ours },
      ...(c.buildArgs ? { buildArgs: c.buildArgs } : {}), ...(c.target ? { target: c.target } : {}),
    });

    const args = ['build', '--platform', platform, '--network=none', '-q', '-f', join(ctx, dockerfile), '-t', `${tag}:docker`];
    for (const [k, v] of Object.entries(c.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
    if (c.target) args.push('--target', c.target);
    docker([...args, ctx]);
    const theirs = join(dir, slug, 'docker.tar');
    docker(['save', '-o', theirs, `${tag}:docker`]);

    const [a, b] = await Promise.all([flattenArchive(ours), flattenArchive(theirs)]);
    expect([a.config.architecture, b.config.architecture]).toEqual([platform.split('/')[1], platform.split('/')[1]]);
    expect(a.tree).toEqual(b.tree);
    expect(comparableConfig(a.config)).toEqual(comparableConfig(b.config));

    // what other tools make of keel's archive: skopeo reads it as an OCI archive, umoci unpacks the layout
    const inspect = JSON.parse(run('skopeo', ['inspect', `oci-archive:${ours}`]).stdout) as { Layers: string[] };
    expect(inspect.Layers).toHaveLength(a.config.rootfs ? ((a.config.rootfs as { diff_ids: string[] }).diff_ids.length) : 0);
    const layout = join(dir, slug, 'layout');
    await mkdir(layout, { recursive: true });
    run('tar', ['-xf', ours, '-C', layout]);
    run('umoci', ['unpack', '--image', `${layout}:keel`, join(dir, slug, 'bundle')]);

    expect(docker(['load', '-i', ours]).stdout).toContain(`${tag}:keel`);
    if (c.runs !== undefined) expect(docker(['run', '--rm', '--network=none', `${tag}:keel`]).stdout).toBe(c.runs);
    else expect(docker(['run', '--rm', '--network=none', '--entrypoint', '/bin/busybox', `${tag}:keel`, 'true']).status).toBe(0);
    docker(['rmi', '-f', `${tag}:keel`, `${tag}:docker`], { check: false });
  });
});
});
