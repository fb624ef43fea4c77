/**
 * BuildKit's own Dockerfile tests (moby/buildkit frontend/dockerfile/dockerfile_*_test.go @73ed682),
 * ported: each one's Dockerfile and context, adapted to a busybox base made here (Debian's
 * busybox-static, with the official busybox image's /etc/passwd and /etc/group) and no network,
 * built by keel and by `docker build` and compared file by file (path, type, mode, owner, size,
 * content, link) and by config; `expect` holds what BuildKit's test asserts of the result. Many
 * tests assert inside a RUN (`[ "$(id)" = ... ]`): keel's build fails if it differs. Where Debian's
 * docker 20.10 (BuildKit v0.8) and current BuildKit disagree, keel follows current BuildKit: the
 * case says why in `docker`, and only keel's result is checked.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../src';
import { busyboxRootfs, dockerBase } from '../support/busybox-base';
import { comparableConfig, flattenArchive } from '../support/image-tree';
import { BUSYBOX, BUSYBOX_ARM64, describeIntegration, docker, DOCKER_HOST, run } from '../support/integration';
import { writeContext, type FileSpec } from '../support/context-files';


interface PortedCase {
  /** BuildKit's test function it comes from. */
  readonly from: string;
  readonly files?: Readonly<Record<string, FileSpec>>;
  readonly dockerfile: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly target?: string;
  /** The Dockerfile's name in the context (BuildKit's tests use `dockerfile` and symlinks too). */
  readonly dockerfileName?: string;
  /** What BuildKit's test reads from the result: file contents by path. */
  readonly expect?: Readonly<Record<string, string>>;
  /** The image config's fields BuildKit's test checks. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Why docker 20.10 cannot be compared here (it fails the build or gives another result): keel alone is checked. */
  readonly docker?: string;
}

// the tests' own name: FROM busybox, busybox:${tag}, busy$a2 all reach it (docker's BuildKit finds it in its store)
const BUSYBOX_IMAGE = 'busybox:latest';

// the official busybox image's accounts (busybox:1.36's /etc/passwd and /etc/group)
const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh', 'daemon:x:1:1:daemon:/usr/sbin:/bin/false', 'bin:x:2:2:bin:/bin:/bin/false',
  'sys:x:3:3:sys:/dev:/bin/false', 'sync:x:4:100:sync:/bin:/bin/sync', 'mail:x:8:8:mail:/var/spool/mail:/bin/false',
  'www-data:x:33:33:www-data:/var/www:/bin/false', 'operator:x:37:37:Operator:/var:/bin/false', 'nobody:x:65534:65534:nobody:/home:/bin/false', '',
].join('\n');
const GROUP = [
  'root:x:0:', 'daemon:x:1:', 'bin:x:2:', 'sys:x:3:', 'adm:x:4:', 'tty:x:5:', 'disk:x:6:', 'lp:x:7:', 'mail:x:8:', 'kmem:x:9:',
  'wheel:x:10:root', 'cdrom:x:11:', 'dialout:x:18:', 'floppy:x:19:', 'video:x:28:', 'audio:x:29:', 'tape:x:32:', 'www-data:x:33:',
  'operator:x:37:', 'utmp:x:43:', 'users:x:100:', 'staff:x:50:', 'nobody:x:65534:', '',
].join('\n');

const CASES: Readonly<Record<string, PortedCase>> = {
  'EXPOSE of a variable with several ports': {
    from: 'testExposeExpansion',
    // (a COPY added: docker save refuses an image without layers)
    dockerfile: '\nFROM scratch\nARG PORTS="3000 4000/udp"\nEXPOSE $PORTS\nEXPOSE 5000\nCOPY Dockerfile /\n',
    config: { ExposedPorts: { '3000/tcp': {}, '4000/udp': {}, '5000/tcp': {} } },
  },
  'a Dockerfile named in lower case': {
    from: 'testDockerfileLowercase',
    dockerfileName: 'dockerfile',
    dockerfile: '\nFROM scratch\nCOPY dockerfile /\n',
  },
  'LABEL and a build label': {
    from: 'testLabels',
    dockerfile: '\nFROM scratch\nLABEL foo=bar\nCOPY Dockerfile /\n',
    config: { Labels: { foo: 'bar' } },
  },
  'USER: ids, names, groups and supplementary groups in RUN': {
    from: 'testUser',
    dockerfile: `
FROM busybox AS base
RUN mkdir -m 0777 /out
RUN id -un > /out/rootuser
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)" = '0:0/root:root' ]
USER root
RUN [ "$(id -G):$(id -Gn)" = '0 10:root wheel' ]
RUN echo 'dockerio:x:1001:1001::/bin:/bin/false' >> /etc/passwd && \\
	echo 'dockerio:x:1001:' >> /etc/group
USER dockerio
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER root
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '0:0/root:root/0 10:root wheel' ] && \\
	echo 'supplementary:x:1002:dockerio' >> /etc/group
USER dockerio
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001 1002:dockerio supplementary' ]
USER 1001
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001 1002:dockerio supplementary' ]
USER dockerio:dockerio
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER 1001:dockerio
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER dockerio:1001
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER 1001:1001
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1001/dockerio:dockerio/1001:dockerio' ]
USER dockerio:supplementary
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1002/dockerio:supplementary/1002:supplementary' ]
USER dockerio:1002
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1002/dockerio:supplementary/1002:supplementary' ]
USER 1001:supplementary
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1002/dockerio:supplementary/1002:supplementary' ]
USER 1001:1002
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1001:1002/dockerio:supplementary/1002:supplementary' ]
USER 1042:1043
RUN [ "$(id -u):$(id -g)/$(id -un):$(id -gn)/$(id -G):$(id -Gn)" = '1042:1043/1042:1043/1043:1043' ]
USER daemon
RUN id -un > /out/daemonuser
FROM scratch
COPY --from=base /out /
USER nobody
`,
    expect: { rootuser: 'root\n', daemonuser: 'daemon\n' },
    config: { User: 'nobody' },
    docker: 'BuildKit v0.8 gives root no supplementary groups (`id -G` is `0`, not `0 10`): its build fails this RUN',
  },
  'USER: the supplementary groups containerd gives': {
    from: 'testUserAdditionalGids',
    dockerfile: `
FROM busybox
SHELL ["/bin/sh", "-euxc"]
RUN [ "$(id)" = "uid=0(root) gid=0(root) groups=0(root),10(wheel)" ]
USER 1234
RUN [ "$(id)" = "uid=1234 gid=0(root) groups=0(root)" ]
USER 1234:1234
RUN [ "$(id)" = "uid=1234 gid=1234 groups=1234" ]
USER daemon
RUN [ "$(id)" = "uid=1(daemon) gid=1(daemon) groups=1(daemon)" ]
`,
    docker: 'BuildKit v0.8 leaves the primary gid out of the groups (`groups=10(wheel)` for root): its build fails the first RUN',
  },
  'COPY to an empty destination (ENV empty="") is WORKDIR': {
    from: 'testEmptyDestDir',
    files: { testfile: 'contents0' },
    dockerfile: '\nFROM busybox\nENV empty=""\nCOPY testfile $empty\nRUN [ "$(cat testfile)" == "contents0" ]\n',
  },
  'COPY to a folder named with a trailing slash': {
    from: 'testPreserveDestDirSlash',
    files: { testfile: 'contents0' },
    dockerfile: '\nFROM busybox\nCOPY testfile /sample/\nRUN [ "$(cat /sample/testfile)" == "contents0" ]\n',
  },
  'COPY --from keeps owners; into an existing folder keeps its owner; --chown applies to what is new': {
    from: 'testCopyChownExistingDir',
    dockerfile: `
FROM busybox AS source
RUN touch /file && chown 100:200 /file \\
 && mkdir -p /dir/subdir \\
 && touch /dir/subdir/nestedfile \\
 && chown 100:200 /dir \\
 && chown 101:201 /dir/subdir \\
 && chown 102:202 /dir/subdir/nestedfile
FROM busybox AS test_base
RUN mkdir -p /existingdir/existingsubdir \\
 && touch /existingdir/existingfile \\
 && chown 500:600 /existingdir \\
 && chown 501:601 /existingdir/existingsubdir \\
 && chown 501:601 /existingdir/existingfile
FROM test_base AS copy_from
COPY --from=source /file .
COPY --from=source /dir /dir
COPY --from=source /dir/. /existingdir
RUN e="100:200"; p="/file"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="0:0"; p="/dir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="101:201"; p="/dir/subdir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="102:202"; p="/dir/subdir/nestedfile"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="500:600"; p="/existingdir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="501:601"; p="/existingdir/existingsubdir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="501:601"; p="/existingdir/existingfile"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="101:201"; p="/existingdir/subdir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="102:202"; p="/existingdir/subdir/nestedfile"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi
FROM test_base AS copy_from_chowned
COPY --from=source --chown=300:400 /file .
COPY --from=source --chown=300:400 /dir /dir
COPY --from=source --chown=300:400 /dir/. /existingdir
RUN e="300:400"; p="/file"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="300:400"; p="/dir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="300:400"; p="/dir/subdir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="300:400"; p="/dir/subdir/nestedfile"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="500:600"; p="/existingdir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="501:601"; p="/existingdir/existingsubdir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="501:601"; p="/existingdir/existingfile"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="300:400"; p="/existingdir/subdir"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi \\
 && e="300:400"; p="/existingdir/subdir/nestedfile"; a=\`stat -c "%u:%g" "$p"\`; if [ "$a" != "$e" ]; then echo "incorrect ownership on $p. expected $e, got $a"; exit 1; fi
FROM scratch
COPY --from=copy_from /dir /a
COPY --from=copy_from_chowned /dir /b
`,
  },
  'a wildcard that matches nothing beside a file': {
    from: 'testEmptyWildcard',
    files: { foo: 'contents0' },
    dockerfile: '\nFROM scratch\nCOPY foo nomatch* /\n',
    expect: { foo: 'contents0' },
  },
  'COPY --chown by names, from ENV and ARG': {
    from: 'testCopyChownCreateDest',
    buildArgs: { group: 'user' },
    // (adduser -D as the lines it writes: Debian's busybox-static has no adduser)
    dockerfile: '\nFROM busybox\nARG group\nENV owner user01\nRUN echo "user:x:1000:1000::/home/user:/bin/sh" >> /etc/passwd && echo "user:x:1000:" >> /etc/group\nRUN echo "user01:x:1001:1001::/home/user01:/bin/sh" >> /etc/passwd && echo "user01:x:1001:" >> /etc/group\nCOPY --chown=user:user . /dest\nCOPY --chown=${owner}:${group} . /dest01\nRUN [ "$(stat -c "%U %G" /dest)" == "user user" ]\nRUN [ "$(stat -c "%U %G" /dest01)" == "user01 user" ]\n',
  },
  'COPY through a symlinked folder of the context': {
    from: 'testCopyThroughSymlinkContext',
    files: { link: { symlink: 'sub' }, sub: { dir: 0o700 }, 'sub/foo': 'contents' },
    dockerfile: '\nFROM scratch\nCOPY link/foo .\n',
    expect: { foo: 'contents' },
  },
  'COPY --from through symlinks of the stage, absolute and relative': {
    from: 'testCopyThroughSymlinkMultiStage',
    dockerfile: '\nFROM busybox AS build\nRUN mkdir -p /out/sub && ln -s /out/sub /sub && ln -s out/sub /sub2 && echo -n "data" > /sub/foo\nFROM scratch\nCOPY --from=build /sub/foo .\nCOPY --from=build /sub2/foo bar\n\t',
    expect: { foo: 'data', bar: 'data' },
  },
  'a symlink inside a copied folder stays a link; named as a source, it is followed': {
    from: 'testCopyFollowAllSymlinks',
    files: { bar: 'bar-contents', foo: { dir: 0o700 }, 'foo/sub': { symlink: '../bar' } },
    dockerfile: '\nFROM scratch\nCOPY foo /\nCOPY foo/sub bar\n',
  },
  'wildcard sources that are links are followed': {
    from: 'testCopySymlinks',
    files: {
      bar: 'bar-contents', foo: { symlink: 'bar' }, sub: { dir: 0o700 }, 'sub/lfile': 'lfile-contents', 'sub/l0': { symlink: 'subfile' },
      'sub/subfile': 'subfile-contents', 'sub/l1': { symlink: 'second' }, 'sub/second': { symlink: 'baz' }, 'sub/baz': 'baz-contents',
    },
    dockerfile: '\nFROM scratch\nCOPY foo /\nCOPY sub/l* alllinks/\n',
    expect: { foo: 'bar-contents', 'alllinks/l0': 'subfile-contents', 'alllinks/lfile': 'lfile-contents', 'alllinks/l1': 'baz-contents' },
  },
  'COPY --chown by name, by id and group name, and from ENV and ARG': {
    from: 'testCopyChown',
    buildArgs: { group: 'nobody' },
    files: { foo: { content: 'foo-contents', mode: 0o600 }, bar: { dir: 0o700 }, 'bar/sub': { content: '', mode: 0o600 } },
    dockerfile: '\nFROM busybox AS base\nENV owner 1000\nRUN mkdir -m 0777 /out\nCOPY --chown=daemon foo /\nCOPY --chown=1000:nobody bar /baz\nARG group\nCOPY --chown=${owner}:${group} foo /foobis\nRUN stat -c "%U %G" /foo  > /out/fooowner\nRUN stat -c "%u %G" /baz/sub  > /out/subowner\nRUN stat -c "%u %G" /foobis  > /out/foobisowner\nFROM scratch\nCOPY --from=base /out /\n',
    expect: { fooowner: 'daemon daemon\n', subowner: '1000 nobody\n', foobisowner: '1000 nobody\n' },
  },
  'COPY --chmod, from an ARG too; the folders it makes': {
    from: 'testCopyChmod',
    buildArgs: { mode: '755' },
    files: { foo: { content: 'foo-contents', mode: 0o600 }, bar: { content: 'bar-contents', mode: 0o700 } },
    dockerfile: '\nFROM busybox AS base\nRUN mkdir -m 0777 /out\nCOPY --chmod=0644 foo /\nCOPY --chmod=777 bar /baz\nCOPY --chmod=0 foo /foobis\nCOPY --chmod=777 foo /parent/foo\nCOPY --chmod=770 foo /parent/sub/foo\nARG mode\nCOPY --chmod=${mode} foo /footer\nRUN stat -c "%04a" /foo  > /out/fooperm\nRUN stat -c "%04a" /baz  > /out/barperm\nRUN stat -c "%04a" /foobis  > /out/foobisperm\nRUN stat -c "%04a" /parent  > /out/parentperm\nRUN stat -c "%04a" /parent/sub  > /out/subparentperm\nRUN stat -c "%04a" /footer  > /out/footerperm\nFROM scratch\nCOPY --from=base /out /\n',
    expect: { fooperm: '0644\n', barperm: '0777\n', foobisperm: '0000\n', parentperm: '0777\n', subparentperm: '0770\n', footerperm: '0755\n' },
    docker: 'BuildKit v0.8 makes the parent folders of a COPY --chmod 0755, current BuildKit gives them the mode (0777, 0770)',
  },
  'the same COPY twice over itself': {
    from: 'testCopyOverrideFiles',
    files: { sub: { dir: 0o700 }, 'sub/dir1': { dir: 0o700 }, 'sub/dir1/dir2': { dir: 0o700 }, 'sub/dir1/dir2/foo': 'foo-contents', files: { dir: 0o700 }, 'files/foo.go': 'foo.go-contents' },
    dockerfile: '\nFROM scratch AS base\nCOPY sub sub\nCOPY sub sub\nCOPY files/foo.go dest/foo.go\nCOPY files/foo.go dest/foo.go\nCOPY files dest\n',
    expect: { 'sub/dir1/dir2/foo': 'foo-contents', 'dest/foo.go': 'foo.go-contents' },
  },
  'a source named by ENV': {
    from: 'testCopyVarSubstitution',
    files: { bar: 'bar-contents' },
    dockerfile: '\nFROM scratch AS base\nENV FOO bar\nCOPY $FOO baz\n',
    expect: { baz: 'bar-contents' },
  },
  'wildcards, folder sources with and without a trailing slash or /.': {
    from: 'testCopyWildcards',
    files: { 'foo.go': 'foo-contents', 'bar.go': 'bar-contents', sub: { dir: 0o700 }, 'sub/dir1': { dir: 0o700 }, 'sub/dir1/dir2': { dir: 0o700 }, 'sub/dir1/dir2/foo': 'foo-contents' },
    dockerfile: '\nFROM scratch AS base\nCOPY *.go /gofiles/\nCOPY f*.go foo2.go\nCOPY sub/* /subdest/\nCOPY sub/*/dir2/foo /subdest2/\nCOPY sub/*/dir2/foo /subdest3/bar\nCOPY . all/\nCOPY sub/dir1/ subdest4\nCOPY sub/dir1/. subdest5\nCOPY sub/dir1 subdest6\n',
    expect: {
      'gofiles/foo.go': 'foo-contents', 'gofiles/bar.go': 'bar-contents', 'foo2.go': 'foo-contents', 'subdest/dir2/foo': 'foo-contents', 'subdest2/foo': 'foo-contents',
      'subdest3/bar': 'foo-contents', 'all/foo.go': 'foo-contents', 'subdest4/dir2/foo': 'foo-contents', 'subdest5/dir2/foo': 'foo-contents', 'subdest6/dir2/foo': 'foo-contents',
    },
  },
  'relative destinations under WORKDIR': {
    from: 'testCopyRelative',
    files: { foo: { content: 'hello', mode: 0o600 } },
    dockerfile: `
FROM busybox
WORKDIR /test1
WORKDIR test2
RUN sh -c "[ "$PWD" = '/test1/test2' ]"
COPY foo ./
RUN sh -c "[ $(cat /test1/test2/foo) = 'hello' ]"
ADD foo ./bar/baz
RUN sh -c "[ $(cat /test1/test2/bar/baz) = 'hello' ]"
COPY foo ./bar/baz2
RUN sh -c "[ $(cat /test1/test2/bar/baz2) = 'hello' ]"
WORKDIR ..
COPY foo ./
RUN sh -c "[ $(cat /test1/foo) = 'hello' ]"
COPY foo /test3/
RUN sh -c "[ $(cat /test3/foo) = 'hello' ]"
WORKDIR /test4
COPY . .
RUN sh -c "[ $(cat /test4/foo) = 'hello' ]"
WORKDIR /test5/test6
COPY foo ../
RUN sh -c "[ $(cat /test5/foo) = 'hello' ]"
`,
  },
  'file names with non-ASCII letters, escapes and +': {
    from: 'testCopyUnicodePath',
    files: { 'test-äöü.txt': { content: 'foo', mode: 0o644 }, 'test-%C3%A4%C3%B6%C3%BC.txt': { content: 'bar', mode: 0o644 }, 'test+aou.txt': { content: 'baz', mode: 0o644 } },
    dockerfile: '\nFROM busybox\nCOPY test-äöü.txt /\nCOPY test-%C3%A4%C3%B6%C3%BC.txt /\nCOPY test+aou.txt /\n',
    expect: { 'test-äöü.txt': 'foo', 'test-%C3%A4%C3%B6%C3%BC.txt': 'bar', 'test+aou.txt': 'baz' },
  },
  'a global ARG in FROM, set by a build arg': {
    from: 'testGlobalArg',
    buildArgs: { tag: 'latest' },
    dockerfile: '\nARG tag=nosuchtag\nFROM busybox:${tag}\n',
  },
  'several ARGs on a line, global ones redeclared in the stage': {
    from: 'testMultiArgs',
    dockerfile: '\nARG a1="foo bar" a2=box\nARG a3="$a2-foo"\nFROM busy$a2 AS build\nARG a3 a4="123 456" a1\nRUN echo -n "$a1:$a3:$a4" > /out\nFROM scratch\nCOPY --from=build /out .\n',
    expect: { out: 'foo bar:box-foo:123 456' },
  },
  'quoted global ARGs expanded into a stage ARG': {
    from: 'testQuotedMetaArgs',
    dockerfile: '\nARG a1="box"\nARG a2="$a1-foo"\nFROM busy$a1 AS build\nARG a2\nARG a3="bar-$a2"\nRUN echo -n $a3 > /out\nFROM scratch\nCOPY --from=build /out .\n',
    expect: { out: 'bar-box-foo' },
  },
  'TARGETSTAGE names the target (--target foo)': {
    from: 'testTargetStageNameArg',
    target: 'foo',
    dockerfile: '\nFROM busybox AS base\nWORKDIR /out\nRUN echo -n "value:$TARGETSTAGE" > /out/first\nARG TARGETSTAGE\nRUN echo -n "value:$TARGETSTAGE" > /out/second\nFROM scratch AS foo\nCOPY --from=base /out/ /\nFROM scratch\nCOPY --from=base /out/ /\n',
    expect: { first: 'value:', second: 'value:foo' },
    docker: 'TARGETSTAGE came after BuildKit v0.8: docker 20.10 leaves it empty',
  },
  'TARGETSTAGE of an unnamed last stage is default': {
    from: 'testTargetStageNameArg',
    dockerfile: '\nFROM busybox AS base\nWORKDIR /out\nRUN echo -n "value:$TARGETSTAGE" > /out/first\nARG TARGETSTAGE\nRUN echo -n "value:$TARGETSTAGE" > /out/second\nFROM scratch AS foo\nCOPY --from=base /out/ /\nFROM scratch\nCOPY --from=base /out/ /\n',
    expect: { first: 'value:', second: 'value:default' },
    docker: 'TARGETSTAGE came after BuildKit v0.8: docker 20.10 leaves it empty',
  },
  'TARGETSTAGE of a named last stage is its name': {
    from: 'testTargetStageNameArg',
    dockerfile: '\nFROM busybox AS base\nWORKDIR /out\nRUN echo -n "value:$TARGETSTAGE" > /out/first\nARG TARGETSTAGE\nRUN echo -n "value:$TARGETSTAGE" > /out/second\nFROM scratch AS foo\nCOPY --from=base /out/ /\nFROM scratch AS final\nCOPY --from=base /out/ /\n',
    expect: { first: 'value:', second: 'value:final' },
    docker: 'TARGETSTAGE came after BuildKit v0.8: docker 20.10 leaves it empty',
  },
  'the proxy build args and ARG defaults in RUN': {
    from: 'testBuiltinArgs',
    buildArgs: { FOO: 'foocontents', http_proxy: 'hpvalue', NO_PROXY: 'npvalue' },
    dockerfile: '\nFROM busybox AS build\nARG FOO\nARG BAR\nARG BAZ=bazcontent\nRUN echo -n $HTTP_PROXY::$NO_PROXY::$FOO::$BAR::$BAZ > /out\nFROM scratch\nCOPY --from=build /out /\n',
    expect: { out: 'hpvalue::npvalue::foocontents::::bazcontent' },
  },
  'an ARG without a value is not in RUN\'s environment; ARG X= is, empty': {
    from: 'testEmptyStringArgInEnv',
    dockerfile: '\nFROM busybox AS build\nARG FOO\nARG BAR=\nRUN env | grep -v HOSTNAME | sort > env.txt\nFROM scratch\nCOPY --from=build env.txt .\n',
  },
  'an ENV value with %s in the legacy form': {
    from: 'testEnvEmptyFormatting',
    dockerfile: "\nFROM busybox AS build\nENV myenv foo%sbar\nRUN [ \"$myenv\" = 'foo%sbar' ]\n",
  },
  'ENTRYPOINT after SHELL: the shell form takes the SHELL, and CMD is cleared': {
    from: 'testCmdShell',
    dockerfile: '\nFROM scratch AS first\nCMD ["test"]\nCOPY Dockerfile /\nFROM first\nSHELL ["ls"]\nENTRYPOINT my entrypoint\n',
    config: { Cmd: undefined, Entrypoint: ['ls', 'my entrypoint'] },
  },
  'the default shell and PATH of a scratch image': {
    from: 'testDefaultShellAndPath',
    dockerfile: '\nFROM scratch\nENTRYPOINT foo bar\nCOPY Dockerfile .\n',
    config: { Entrypoint: ['/bin/sh', '-c', 'foo bar'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
  },
  'RUN is not run through the ENTRYPOINT': {
    from: 'testIgnoreEntrypoint',
    dockerfile: '\nFROM busybox\nENTRYPOINT ["/nosuchcmd"]\nRUN ["ls"]\n',
  },
  'WORKDIR makes its folder': {
    from: 'testWorkdirCreatesDir',
    dockerfile: '\nFROM scratch\nWORKDIR /foo\nWORKDIR /\n',
  },
  'WORKDIR made by USER is owned by the user': {
    from: 'testWorkdirUser',
    dockerfile: '\nFROM busybox\nRUN echo \"user:x:1000:1000::/home/user:/bin/sh\" >> /etc/passwd && echo \"user:x:1000:\" >> /etc/group\nUSER user\nWORKDIR /mydir\nRUN [ "$(stat -c "%U %G" /mydir)" == "user user" ]\n',
  },
  'COPY --from of a relative path reads from the root, not the stage\'s WORKDIR': {
    from: 'testWorkdirCopyIgnoreRelative',
    dockerfile: '\nFROM busybox AS base\nWORKDIR /foo\nCOPY Dockerfile /\nFROM busybox\nCOPY --from=base Dockerfile .\n',
  },
  'WORKDIR of an existing folder keeps its owner': {
    from: 'testWorkdirExists',
    dockerfile: '\nFROM busybox\nRUN echo \"user:x:1000:1000::/home/user:/bin/sh\" >> /etc/passwd && echo \"user:x:1000:\" >> /etc/group\nRUN mkdir /mydir && chown user:user /mydir\nWORKDIR /mydir\nRUN [ "$(stat -c "%U %G" /mydir)" == "user user" ]\n',
  },
  'COPY --from an image by name': {
    from: 'testMultiStageImplicitFrom',
    dockerfile: '\nFROM scratch\nCOPY --from=busybox /etc/passwd test\n',
  },
  'COPY --from a stage named like an image reads the stage': {
    from: 'testMultiStageImplicitFrom',
    dockerfile: '\nFROM busybox AS golang\nRUN mkdir -p /usr/bin && echo -n foo > /usr/bin/go\nFROM scratch\nCOPY --from=golang /usr/bin/go go\n',
    expect: { go: 'foo' },
  },
  'stage names and --target in any case': {
    from: 'testMultiStageCaseInsensitive',
    target: 'Stage1',
    files: { foo: { content: 'foo-contents', mode: 0o600 } },
    dockerfile: '\nFROM scratch AS STAge0\nCOPY foo bar\nFROM scratch AS staGE1\nCOPY --from=staGE0 bar baz\nFROM scratch\nCOPY --from=stage1 baz bax\n',
    expect: { baz: 'foo-contents' },
  },
  'ADD of a tar extracts it': {
    from: 'testDockerfileAddArchive',
    files: { 't.tar': { tar: [{ name: 'foo', body: 'content0', mode: 0o644 }] } },
    dockerfile: '\nFROM scratch\nADD t.tar /\n',
    expect: { foo: 'content0' },
  },
  'ADD of a gzipped tar extracts it': {
    from: 'testDockerfileAddArchive',
    files: { 't.tar.gz': { tar: [{ name: 'foo', body: 'content0', mode: 0o644 }], gzip: true } },
    dockerfile: '\nFROM scratch\nADD t.tar.gz /\n',
    expect: { foo: 'content0' },
  },
  'COPY of a tar does not extract it': {
    from: 'testDockerfileAddArchive',
    files: { 't.tar.gz': { tar: [{ name: 'foo', body: 'content0', mode: 0o644 }], gzip: true } },
    dockerfile: '\nFROM scratch\nCOPY t.tar.gz /\n',
  },
  'ADD --unpack=false copies a tar as it is': {
    from: 'testDockerfileAddArchive',
    files: { 't.tar.gz': { tar: [{ name: 'foo', body: 'content0', mode: 0o644 }], gzip: true } },
    dockerfile: '\n\tFROM scratch\n\tADD --unpack=false t.tar.gz /\n\t',
    docker: 'ADD --unpack came after BuildKit v0.8: docker 20.10 refuses the flag',
  },
  'ADD of an archive whose folders come before their files': {
    from: 'testDockerfileAddArchiveWithImpliedParentDir',
    files: { 't.tar.gz': { tar: [{ name: 'etc/dnf/', type: 'directory', mode: 0o755 }, { name: 'etc/dnf/dnf.conf', body: 'content0', mode: 0o644 }], gzip: true } },
    dockerfile: '\nFROM scratch\nADD t.tar.gz /\n',
    expect: { 'etc/dnf/dnf.conf': 'content0' },
  },
  'ADD --chown from ENV and ARG': {
    from: 'testDockerfileAddChownExpand',
    buildArgs: { group: 'nobody' },
    files: { foo: 'foo-contents' },
    dockerfile: '\nFROM busybox\nARG group\nENV owner 1000\nADD --chown=${owner}:${group} foo /\nRUN [ "$(stat -c "%u %G" /foo)" == "1000 nobody" ]\n',
  },
};


const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * The busybox base for a platform, as `busybox:latest` in docker's store and as an archive for keel:
 * for the host's platform imported (docker import), for arm64 (Debian's busybox-static:arm64) built
 * by keel for linux/arm64 and loaded, as docker 20.10's import cannot label another platform.
 */
async function busyboxBase(dir: string, platform: 'linux/amd64' | 'linux/arm64'): Promise<string> {
  const applets = run(BUSYBOX, ['--list']).stdout.split('\n').filter((a) => a !== '' && a !== 'busybox');
  const binary = platform === 'linux/arm64' ? (BUSYBOX_ARM64 as string) : BUSYBOX;
  const rootfs = await busyboxRootfs(join(dir, 'rootfs'), { applets, passwd: PASSWD, group: GROUP, files: { 'home/.keep': '' }, busybox: binary });
  const env = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  if (platform === 'linux/amd64') return dockerBase(rootfs, BUSYBOX_IMAGE, [`ENV ${env}`], join(dir, 'busybox.tar'));
  const archive = join(dir, 'busybox.tar');
  await build({
    context: rootfs, dockerfile: { text: `FROM scratch\nCOPY . /\nENV ${env}\n` }, platform, tags: [BUSYBOX_IMAGE], cacheDir: join(dir, 'base-cache'),
    output: [{ type: 'oci-archive', path: archive }, { type: 'docker', host: DOCKER_HOST as string }],
  });
  return archive;
}

// every case for the host's platform, then for linux/arm64 (RUN through QEMU, on both sides)
describe.each([['linux/amd64', ['docker', 'busybox', 'runc']], ['linux/arm64', ['docker', 'busybox', 'runc', 'arm64']]] as const)('%s', (platform, needs) => {
  describeIntegration('BuildKit\'s Dockerfile tests, ported and compared with docker build', needs, () => {
    let dir: string;
    let baseTar: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'keel-bk-parity-'));
      baseTar = await busyboxBase(dir, platform);
    }, 120_000);
    afterAll(async () => {
      docker(['rmi', '-f', BUSYBOX_IMAGE], { check: false });
      await rm(dir, { recursive: true, force: true });
    });

    test.each(Object.entries(CASES).map(([name, c], i) => [name, c, i] as const))('%s', async (_name, c, i) => {
      const slug = `${c.from}-${i}`;
      const ctx = join(dir, slug, 'ctx');
      await mkdir(ctx, { recursive: true });
      await writeContext(ctx, c.files ?? {});
      const dockerfileName = c.dockerfileName ?? 'Dockerfile';
      await writeFile(join(ctx, dockerfileName), c.dockerfile);
      const tag = `keel-bk-parity/${slug.toLowerCase()}`;
      const ours = join(dir, slug, 'keel.tar');
      await build({
        context: ctx, dockerfile: dockerfileName, tags: [`${tag}:keel`], cacheDir: join(dir, 'cache'), baseImages: { [BUSYBOX_IMAGE]: baseTar }, platform,
        output: { type: 'oci-archive', path: ours },
        ...(c.buildArgs === undefined ? {} : { buildArgs: c.buildArgs }), ...(c.target === undefined ? {} : { target: c.target }),
      });
      const a = await flattenArchive(ours);
      for (const [path, content] of Object.entries(c.expect ?? {})) expect([path, a.tree[path]?.sha256]).toEqual([path, sha(content)]);
      for (const [field, value] of Object.entries(c.config ?? {})) expect((a.config.config as Record<string, unknown>)[field]).toEqual(value);
      expect(a.config.architecture).toBe(platform.split('/')[1]);
      if (c.docker !== undefined) return; // docker 20.10 cannot be the reference here (see `docker`)

      const args = ['build', '--platform', platform, '--network=none', '-q', '-f', join(ctx, dockerfileName), '-t', `${tag}:docker`];
      for (const [k, v] of Object.entries(c.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
      if (c.target !== undefined) args.push('--target', c.target);
      docker([...args, ctx]);
      const theirs = join(dir, slug, 'docker.tar');
      docker(['save', '-o', theirs, `${tag}:docker`]);
      const b = await flattenArchive(theirs);
      expect(b.config.architecture).toBe(platform.split('/')[1]);
      // docker 20.10's BuildKit leaves the runtime's mount stubs in RUN layers; current BuildKit and keel do not
      for (const stub of ['dev', 'proc', 'sys']) if (a.tree[stub] === undefined) delete b.tree[stub];
      expect(a.tree).toEqual(b.tree);
      expect(comparableConfig(a.config)).toEqual(comparableConfig(b.config));
      docker(['rmi', '-f', `${tag}:docker`], { check: false });
    }, 180_000);
  });
});
