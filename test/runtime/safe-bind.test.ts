/**
 * bindBeneath (issue 24, BuildKit's CVE-2024-23651 fix): a folder inside a root that others write is
 * bound by what it is when checked, not by its name when the runtime mounts it later; links are
 * resolved inside the root.
 */
import { mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKeelError } from '../../src';
import { bindBeneath } from '../../src/runtime/safe-bind';
import { describeIntegration } from '../support/integration';

describeIntegration('binding a folder of a cache safely', ['runc'], () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-safe-bind-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('the folder checked is the folder bound: swapped for a link to the host afterwards, the mount still shows it', async () => {
    const root = join(dir, 'cache');
    const host = join(dir, 'host-secret');
    await mkdir(join(root, 'd'), { recursive: true });
    await writeFile(join(root, 'd', 'mine'), 'cache');
    await mkdir(host);
    await writeFile(join(host, 'secret'), 'host');
    const point = join(dir, 'point');
    const unmount = await bindBeneath(root, 'd', point, 'cache mount source');
    try {
      // what a RUN beside this one could do before the runtime mounts `point`
      await rename(join(root, 'd'), join(root, 'd-moved'));
      await symlink(host, join(root, 'd'));
      expect(await readdir(point)).toEqual(['mine']);
    } finally {
      await unmount();
    }
    expect(await readdir(dir)).not.toContain('point');
  });

  test('a link is resolved inside the root; a source that is not a folder there is E_BUILD_INPUT', async () => {
    const root = join(dir, 'cache2');
    await mkdir(join(root, 'real'), { recursive: true });
    await writeFile(join(root, 'real', 'f'), 'x');
    await symlink('/', join(root, 'up'));
    await symlink('/etc', join(root, 'etc-link'));
    const point = join(dir, 'point2');
    const unmount = await bindBeneath(root, 'up', point, 'cache mount source');
    try {
      expect((await readdir(point)).sort()).toEqual(['etc-link', 'real', 'up']); // the root's /, not the host's
    } finally {
      await unmount();
    }
    const e = await bindBeneath(root, 'etc-link', join(dir, 'point3'), 'cache mount source').catch((x: unknown) => x);
    expect([isKeelError(e, 'E_BUILD_INPUT'), (e as Error).message]).toEqual([true, expect.stringMatching(/"etc-link" is not a folder/)]);
  });
});
