/**
 * The build's outputs: checked before any work starts (a folder that cannot be written, a name that
 * is not one, are found in milliseconds, not after the build), then written one after another.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeelError } from '../errors.js';
import { parseTag, type BuiltImage, type LayerEntry } from '../image/index.js';
import { dockerEndpoint, writeOutput, type BuildOutput, type OutputOptions } from '../output/index.js';
import type { PushResult } from '../registry/index.js';

export const outputList = (output: BuildOutput | readonly BuildOutput[] | undefined): readonly BuildOutput[] =>
  output === undefined ? [] : Array.isArray(output) ? output : [output as BuildOutput];

/** The folder an output file or folder will be put in: it must exist and be writable; a file must not be a folder. */
async function checkWritableParent(path: string, kind: 'file' | 'folder'): Promise<void> {
  const what = `the output ${kind}`;
  const parent = dirname(path);
  const s = await stat(parent).catch(() => undefined);
  if (s === undefined) throw new KeelError('E_BUILD_INPUT', `${what} ${path}: the folder ${parent} does not exist`);
  if (!s.isDirectory()) throw new KeelError('E_BUILD_INPUT', `${what} ${path}: ${parent} is not a folder`);
  await access(parent, constants.W_OK).catch(() => {
    throw new KeelError('E_BUILD_INPUT', `${what} ${path}: the folder ${parent} cannot be written`);
  });
  const there = await stat(path).catch(() => undefined);
  if (there?.isDirectory() === true && kind === 'file') throw new KeelError('E_BUILD_INPUT', `${what} ${path} is a folder`);
}

/** Every problem an output has that can be seen before the build: paths, names, the daemon's address. */
export async function checkOutputs(outputs: readonly BuildOutput[], tags: readonly string[]): Promise<void> {
  for (const o of outputs) {
    if ('names' in o && o.names !== undefined) for (const n of o.names) parseTag(n);
    switch (o.type) {
      case 'oci-archive':
      case 'rootfs-tar':
        if (o.path !== undefined) await checkWritableParent(o.path, 'file');
        break;
      case 'oci-dir':
        await checkWritableParent(o.path, 'folder');
        break;
      case 'rootfs-dir': {
        const s = await stat(o.path).catch(() => undefined);
        if (s !== undefined && !s.isDirectory()) throw new KeelError('E_BUILD_INPUT', `the output folder ${o.path} is a file`);
        await checkWritableParent(o.path, 'folder');
        break;
      }
      case 'docker':
        if (o.host !== undefined) dockerEndpoint(o.host);
        break;
      case 'registry':
        if ((o.names ?? tags).length === 0) throw new KeelError('E_BUILD_INPUT', 'a push needs a name: give a tag (-t registry/name:tag) or the output a name');
        break;
    }
  }
}

export interface OutputsWritten {
  readonly pushed: readonly PushResult[];
  readonly loaded: readonly string[];
}

/** Write the image to each output, in order; the root file system is flattened once for all that need it. */
export async function writeOutputs(image: BuiltImage, outputs: readonly BuildOutput[], opts: OutputOptions): Promise<OutputsWritten> {
  let rootfs: Promise<readonly LayerEntry[]> | undefined;
  const shared: OutputOptions = { ...opts, rootfs: () => (rootfs ??= opts.rootfs()) };
  const pushed: PushResult[] = [];
  const loaded: string[] = [];
  for (const o of outputs) {
    const r = await writeOutput(image, o, shared);
    pushed.push(...(r.pushed ?? []));
    loaded.push(...(r.loaded ?? []));
  }
  return { pushed, loaded };
}
