/**
 * Layers made beside the steps after them (issue 23, layers.ts contentLayer): a COPY that a RUN
 * follows names its folder by a diffID from a pass that only hashes its tar, and its blob is
 * compressed and stored while the RUN runs. The image stays byte for byte what keel made before
 * (the digests below were made by 7d0efad, which wrote every blob before the next step), whichever
 * snapshotter the RUN went on; and a file changed between the two passes fails the build at the
 * COPY, with nothing recorded that names the wrong bytes.
 */
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, copySnapshotter, isKeelError, type BuildEvent } from '../../src';
import { busyboxArchive } from '../support/busybox-base';
import { describeIntegration } from '../support/integration';

/** Dockerfiles and the digests of the layers above the base, as 7d0efad made them. */
const PINNED: ReadonlyArray<{ name: string; text: string; zstd?: true; layers: readonly string[] }> = [
  {
    name: 'WORKDIR, COPY, RUN',
    text: 'FROM base\nWORKDIR /app\nCOPY src /app/src\nRUN ["/bin/busybox", "sh", "-c", "echo hi > /app/out"]\n',
    layers: [
      'sha256:25ba54fa6254508ce6adfa815bffb00f8a2c64f434492c957e2e1afea7612e14',
      'sha256:e25727c507bcfec0a63fe3000b58619f071e489256683fa8e1b9a21f88353fcc',
      'sha256:545d02189652fa94bf06bd096112cbeb1efb790c45910af8df9a098f4442b5b7',
    ],
  },
  {
    name: 'a large file and a folder, a RUN that changes nothing, a COPY after it',
    text: 'FROM base\nCOPY big.bin src /data/\nRUN ["/bin/busybox", "true"]\nCOPY src/a.txt /a\n',
    layers: [
      'sha256:526578d1585be803e47007cfa051c029484e32fe8bf5066bce81ac9d2efa49e9',
      'sha256:5a28a4e840d61bfd8145cca634eb84a0f86e28b3f5f4ff3e7050c2ca80a8c7bd',
    ],
  },
  {
    name: 'zstd',
    text: 'FROM base\nCOPY src /s\nRUN ["/bin/busybox", "true"]\n',
    zstd: true,
    layers: ['sha256:09eaa459d11a35dcda50a3181848b0b2b524c58f3bc44bb6eeb5b551fde0ad50'],
  },
];

describeIntegration('layers made beside the next steps', ['busybox', 'runc'], () => {
  let dir: string;
  let base: string;
  let ctx: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-pending-layers-'));
    base = await busyboxArchive(dir);
    ctx = join(dir, 'ctx');
    await mkdir(join(ctx, 'src', 'lib'), { recursive: true });
    await writeFile(join(ctx, 'src', 'a.txt'), 'alpha\n');
    await writeFile(join(ctx, 'src', 'lib', 'b.js'), 'module.exports = 1;\n');
    await writeFile(join(ctx, 'big.bin'), Buffer.alloc(3 << 20, 7));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test.each(PINNED)('$name: the layers keel made before, on overlayfs and on the copy path', async ({ text, zstd, layers }) => {
    for (const rootfs of ['overlay', 'copy'] as const) {
      const r = await build({
        context: ctx, dockerfile: { text }, baseImages: { base }, cacheDir: join(dir, `cache-${rootfs}`),
        ...(rootfs === 'copy' ? { snapshotter: copySnapshotter } : {}), ...(zstd ? { compression: 'zstd' as const } : {}),
      });
      expect({ rootfs, layers: r.layers.slice(1).map((l) => l.digest) }).toEqual({ rootfs, layers });
    }
  });

  test('a context file changed while its layer is compressed fails the build at the COPY; the next build makes the right image', async () => {
    const c = join(dir, 'changing');
    await mkdir(c);
    const body = (fill: number): Buffer => {
      // bytes that do not compress (gzip works on them for a while): a simple generator, seeded by `fill`
      const b = Buffer.alloc(64 << 20);
      let x = fill;
      for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((x = (Math.imul(x, 1664525) + 1013904223) >>> 0), i);
      return b;
    };
    const before = body(1);
    await writeFile(join(c, 'big.bin'), before);
    const text = 'FROM base\nCOPY big.bin /big.bin\nRUN ["/bin/busybox", "true"]\n';
    const cacheDir = join(dir, 'cache-changing');
    let changed = false;
    const onProgress = (e: BuildEvent): void => {
      // the RUN starts while the COPY's blob is still being made: the file changes under it
      if (!changed && e.type === 'step-start' && e.name.includes('RUN')) {
        changed = true;
        writeFileSync(join(c, 'big.bin'), body(2));
      }
    };
    const failed = await build({ context: c, dockerfile: { text }, baseImages: { base }, cacheDir, onProgress }).then(() => undefined, (e: unknown) => e);
    expect(changed).toBe(true);
    expect(isKeelError(failed, 'E_BUILD_INPUT')).toBe(true);
    expect((failed as Error).message).toMatch(/changed while it was written/);
    expect((failed as { line?: number }).line).toBe(2);
    // nothing names the bytes the first pass saw: with the file as it was, the build makes what a fresh cache makes
    await writeFile(join(c, 'big.bin'), before);
    const again = await build({ context: c, dockerfile: { text }, baseImages: { base }, cacheDir });
    const fresh = await build({ context: c, dockerfile: { text }, baseImages: { base }, cacheDir: join(dir, 'cache-changing-fresh') });
    expect(again.manifestDigest).toBe(fresh.manifestDigest);
  }, 120_000);
});
