/**
 * build() takes a Runtime object (issue 23): RUN goes through the caller's executor, never runc,
 * with the spec keel made (args, env, user, network, mounts); the change the executor makes in
 * the bundle's rootfs is the layer, as it is runc's.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildEvent, type Runtime, type RunSpec } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { flattenArchive } from '../support/image-tree';
import { describeIntegration } from '../support/integration';

describeIntegration('a Runtime of the caller\'s', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-fake-runtime-'));
    base = await busyboxArchive(dir);
    await mkdir(join(dir, 'ctx'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('RUN runs through it: the spec it gets, the layer it makes, its log lines', async () => {
    const seen: RunSpec[] = [];
    const fake: Runtime = {
      name: 'runc',
      run: async (bundle, _id, spec, log) => {
        seen.push(spec);
        await writeFile(join(bundle, 'rootfs', 'made-by-fake'), `${spec.args.join(' ')}\n`);
        log('the fake ran');
      },
      list: async () => [],
      remove: async () => undefined,
    };
    const events: BuildEvent[] = [];
    const out = join(dir, 'fake.tar');
    await build({
      context: join(dir, 'ctx'), dockerfile: { text: 'FROM base\nENV A=1\nUSER app\nRUN --network=none echo hi\n' }, baseImages: { base },
      cacheDir: join(dir, 'cache'), runtime: fake, output: { type: 'oci-archive', path: out }, onProgress: (e) => events.push(e),
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ args: ['/bin/sh', '-c', 'echo hi'], uid: 1000, gid: 1000, network: 'none', cwd: '/' });
    expect(seen[0]?.env).toContainEqual(['A', '1']);
    expect(events.filter((e) => e.type === 'log').map((e) => (e as { line: string }).line)).toEqual(['the fake ran']);
    const { tree } = await flattenArchive(out);
    expect(tree['made-by-fake']?.type).toBe('file');
  });
});
