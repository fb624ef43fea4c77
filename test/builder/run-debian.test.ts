/**
 * RUN on the Debian minbase base (scripts/debian-base.sh: debootstrap, then pushed to the local
 * registry, so FROM pulls it): a parity build against docker build that changes the base's own
 * files, replaces a folder, adds a user and writes as that user; and the realistic build the issue
 * asks for: apt-get installs curl from Debian's mirror and the image runs `curl --version`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../src';
import { comparableConfig, flattenArchive } from '../support/image-tree';
import { DEBIAN_IMAGE, describeIntegration, docker, REGISTRY } from '../support/integration';

describeIntegration('RUN on a Debian base pulled from the local registry', ['docker', 'runc', 'registry', 'debian'], () => {
  let dir: string;
  const base = DEBIAN_IMAGE as string;
  const registryOptions = { insecureRegistries: [REGISTRY as string] };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-debian-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('base files changed and deleted, a folder replaced, useradd, USER by name: same tree as docker build', async () => {
    const ctx = join(dir, 'parity');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), [
      `FROM ${base}`,
      'RUN rm /etc/debian_version && echo changed >> /etc/issue && rm -r /usr/share/doc/apt && mkdir /usr/share/doc/apt && echo new > /usr/share/doc/apt/README',
      'RUN groupadd -g 2345 builders && useradd -u 1234 -g builders -m -s /bin/bash builder',
      'USER builder',
      'WORKDIR /home/builder/app',
      'RUN touch owned && mkdir sub && ln -s owned link && id > id.txt',
    ].join('\n'));
    const ours = join(dir, 'parity.keel.tar');
    await build({ context: ctx, cacheDir: join(dir, 'cache'), tags: ['keel-test/debian-parity:keel'], output: { type: 'oci-archive', path: ours }, ...registryOptions });
    // --no-cache: a docker cache of an earlier day's run (the test daemon's data outlives a run) stamps another day
    docker(['build', '--no-cache', '--network=host', '-q', '-t', 'keel-test/debian-parity:docker', ctx]);
    const theirs = join(dir, 'parity.docker.tar');
    docker(['save', '-o', theirs, 'keel-test/debian-parity:docker']);
    const [a, b] = await Promise.all([flattenArchive(ours), flattenArchive(theirs)]);
    // useradd stamps /etc/shadow with today's day number: the same on both sides (same day);
    // /var/log/lastlog and faillog are sparse files whose holes tar may store either way
    expect(a.tree['home/builder/app/owned']).toMatchObject({ uid: 1234, gid: 2345, size: 0 });
    expect(a.tree['etc/debian_version']).toBeUndefined();
    expect(a.tree['usr/share/doc/apt/changelog.gz']).toBeUndefined();
    expect(a.tree).toEqual(b.tree);
    expect(comparableConfig(a.config)).toEqual(comparableConfig(b.config));
    docker(['rmi', '-f', 'keel-test/debian-parity:docker'], { check: false });
  }, 120_000);

  test('apt-get install curl from the Debian mirror; the image runs curl --version', async () => {
    const ctx = join(dir, 'curl');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), [
      `FROM ${base}`,
      'RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*',
      'CMD ["curl", "--version"]',
    ].join('\n'));
    const out = join(dir, 'curl.tar');
    await build({ context: ctx, cacheDir: join(dir, 'cache'), tags: ['keel-test/curl:1'], output: { type: 'oci-archive', path: out }, ...registryOptions });
    docker(['load', '-i', out]);
    const version = docker(['run', '--rm', '--network=none', 'keel-test/curl:1']).stdout;
    expect(version).toMatch(/^curl \d+\.\d+\.\d+ /);
    docker(['rmi', '-f', 'keel-test/curl:1'], { check: false });
  }, 300_000);
});
