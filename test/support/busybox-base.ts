/**
 * A busybox base image for tests (SPEC.md section 8): Debian's busybox-static binary with applet
 * links, /etc/passwd and /etc/group, made as a root folder, and as an image archive built by keel
 * itself (`FROM scratch` + `COPY . /`), which `baseImages` takes. Tests that compare with docker
 * build import the same folder's tar there.
 */
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { build } from '../../src';
import { BUSYBOX, docker, run } from './integration';

export const DEFAULT_APPLETS = ['sh', 'cat', 'echo', 'ls', 'id', 'pwd', 'rm', 'mkdir', 'touch', 'chmod', 'ln', 'printf', 'true', 'false', 'mv', 'sed', 'env', 'sleep', 'gzip', 'head', 'dd'];

export interface BusyboxOptions {
  readonly applets?: readonly string[];
  readonly passwd?: string;
  readonly group?: string;
  /** More files, by path below the root (their folders made as needed). */
  readonly files?: Readonly<Record<string, string>>;
  /** The busybox binary to put in /bin. @default the host's busybox-static */
  readonly busybox?: string;
}

/** A busybox root folder at `dir` (which must not exist). */
export async function busyboxRootfs(dir: string, opts: BusyboxOptions = {}): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'etc'));
  await mkdir(join(dir, 'tmp'));
  await chmod(join(dir, 'tmp'), 0o1777);
  await copyFile(opts.busybox ?? BUSYBOX, join(dir, 'bin', 'busybox'));
  for (const a of opts.applets ?? DEFAULT_APPLETS) await symlink('busybox', join(dir, 'bin', a));
  await writeFile(join(dir, 'etc', 'passwd'), opts.passwd ?? 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
  await writeFile(join(dir, 'etc', 'group'), opts.group ?? 'root:x:0:\napp:x:1000:\n');
  for (const [path, body] of Object.entries(opts.files ?? {})) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), body);
  }
  return dir;
}

/**
 * The root folder as an image in the test Docker daemon (`docker import` with `changes`, such as
 * `ENV PATH=/bin`), and that image as a `docker save` archive at `archive` for keel's `baseImages`.
 */
export function dockerBase(rootfs: string, name: string, changes: readonly string[], archive: string): string {
  const tar = `${archive}.rootfs.tar`;
  run('tar', ['-C', rootfs, '-cf', tar, '.']);
  docker(['import', ...changes.flatMap((c) => ['-c', c]), tar, name]);
  docker(['save', '-o', archive, name]);
  return archive;
}

/** The busybox root folder as an image archive (for `baseImages`), built by keel with its own cache. */
export async function busyboxArchive(dir: string, opts: BusyboxOptions = {}): Promise<string> {
  const rootfs = await busyboxRootfs(join(dir, 'busybox-rootfs'), opts);
  const archive = join(dir, 'busybox.tar');
  await build({
    context: rootfs,
    dockerfile: { text: 'FROM scratch\nCOPY . /\nENV PATH=/bin\n' },
    cacheDir: join(dir, 'busybox-cache'),
    output: { type: 'oci-archive', path: archive },
  });
  return archive;
}
