/**
 * A build context written from a table: files (text, or text with a mode), symlinks, folders with
 * a mode, tar archives (plain, gzip, bzip2, xz), and the busybox binary (the host's, or another
 * platform's when given).
 */
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BUSYBOX } from './integration';
import { tarOf, type TarFixtureEntry } from './tar-fixtures';

export type FileSpec =
  | string
  | { readonly content: string; readonly mode: number }
  | { readonly symlink: string }
  | { readonly busybox: true }
  | { readonly dir: number }
  | { readonly tar: readonly TarFixtureEntry[]; readonly gzip?: boolean; readonly compress?: 'bzip2' | 'xz' };

export async function writeContext(dir: string, files: Readonly<Record<string, FileSpec>>, busybox: string = BUSYBOX): Promise<void> {
  for (const [path, spec] of Object.entries(files)) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    if (typeof spec === 'string') await writeFile(target, spec);
    else if ('symlink' in spec) await symlink(spec.symlink, target);
    else if ('busybox' in spec) await copyFile(busybox, target);
    else if ('tar' in spec) {
      await writeFile(target, await tarOf(spec.tar, spec.gzip ?? false));
      if (spec.compress !== undefined) execFileSync('sh', ['-c', `${spec.compress} -c < "$0" > "$0.z" && mv "$0.z" "$0"`, target]);
    } else if ('dir' in spec) {
      await mkdir(target, { recursive: true });
      await chmod(target, spec.dir);
    } else {
      await writeFile(target, spec.content);
      await chmod(target, spec.mode);
    }
  }
}
