/**
 * The build's outputs: checked before any work starts (a folder that cannot be written, a name that
 * is not one, are found in milliseconds, not after the build), then written one after another.
 */
import { imagesOf, parseTag, type BuiltArtifact, type BuiltImage, type LayerEntry } from '../image/index.js';
import { describeOutput, sinkOf, writeOutput, type BuildOutput, type OutputOptions } from '../output/index.js';
import type { PushResult } from '../registry/index.js';
import { progressOf, type BuildEvent } from './progress.js';

/** Every problem an output has that can be seen before the build: paths, names, the daemon's address. */
export async function checkOutputs(outputs: readonly BuildOutput[], tags: readonly string[]): Promise<void> {
  for (const o of outputs) {
    if ('names' in o && o.names !== undefined) for (const n of o.names) parseTag(n);
    await sinkOf(o).check(o, tags);
  }
}

export interface OutputsWritten {
  readonly pushed: readonly PushResult[];
  readonly loaded: readonly string[];
  readonly warnings: readonly string[];
}

/** How outputs show as steps: the next step number, and where events go. */
export interface ExportSteps {
  readonly next: () => number;
  readonly emit: (e: BuildEvent) => void;
}

/**
 * Write the image to each output, in order, each shown as a step of its own (BuildKit's
 * `exporting to image`), with the bytes it writes or pushes; the root file system is flattened
 * once for all outputs that need it.
 */
export async function writeOutputs(artifact: BuiltArtifact, outputs: readonly BuildOutput[], opts: OutputOptions, steps: ExportSteps): Promise<OutputsWritten> {
  const rootfs = new Map<BuiltImage, Promise<readonly LayerEntry[]>>();
  const pushed: PushResult[] = [];
  const loaded: string[] = [];
  const warnings: string[] = [];
  for (const o of outputs) {
    const step = steps.next();
    const name = describeOutput(o, opts.tags);
    const t0 = performance.now();
    steps.emit({ type: 'step-start', step, name });
    const progress = progressOf(steps.emit, step);
    const last = new Map<string, { current: number; total: number | undefined; done: boolean }>();
    const shared: OutputOptions = {
      ...opts,
      rootfs: (image) => {
        const made = rootfs.get(image) ?? opts.rootfs(image);
        rootfs.set(image, made);
        return made;
      },
      progress: (id, current, total, done) => {
        last.set(id, { current, total, done });
        progress(id, current, total, done);
      },
    };
    try {
      const r = await writeOutput(artifact, o, shared);
      // what was still moving at the end is done now
      for (const [id, p] of last) if (!p.done) progress(id, p.current, p.total, true);
      // BuildKit's last lines of an image export: its manifest, and each name it now has
      if (sinkOf(o).image) {
        for (const image of imagesOf(artifact)) progress(`exporting manifest ${image.manifestBlob.digest}`, image.manifestBlob.size, image.manifestBlob.size, true);
        if (artifact.kind === 'index') progress(`exporting manifest list ${artifact.indexBlob.digest}`, artifact.indexBlob.size, artifact.indexBlob.size, true);
        for (const n of ('names' in o ? o.names : undefined) ?? opts.tags) progress(`naming to ${n}`, 0, undefined, true);
      }
      pushed.push(...(r.pushed ?? []));
      loaded.push(...(r.loaded ?? []));
      warnings.push(...(r.warnings ?? []));
    } catch (e) {
      steps.emit({ type: 'step-error', step, name, message: e instanceof Error ? e.message : String(e) });
      throw e;
    }
    steps.emit({ type: 'step-done', step, name, seconds: (performance.now() - t0) / 1000, cached: false });
  }
  return { pushed, loaded, warnings };
}
