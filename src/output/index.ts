/**
 * Outputs: where a built image goes. One module per output, each a Sink (sink.ts); this table
 * picks it by type. The builder returns an image and never writes it itself (as ggcr's tarball,
 * layout and remote are sinks). A new output: its module, its member of BuildOutput, a line below.
 */
import { KeelError } from '../errors.js';
import type { BuiltArtifact } from '../image/index.js';
import { ociArchiveSink, writeOciArchive } from './oci-archive.js';
import { ociDirSink, writeOciDir } from './oci-dir.js';
import { pushOutput, registrySink } from './registry.js';
import type { BuildOutput, OutputOptions, OutputResult, Sink } from './sink.js';

export { writeOciArchive, writeOciDir, pushOutput };
export { ociDirTarget } from './oci-dir.js';
export type { Destination } from './destination.js';
export type { BuildOutput, OutputOptions, OutputResult, Sink } from './sink.js';

// the outputs only some builds use are loaded when one asks: every module loaded costs every
// build's start (a no-change build is ~100 ms, a third of it loading keel)
/* eslint-disable @typescript-eslint/no-require-imports */
const dockerDaemon = (): typeof import('./docker-daemon.js') => require('./docker-daemon.js') as typeof import('./docker-daemon.js');
const rootfs = (): typeof import('./rootfs.js') => require('./rootfs.js') as typeof import('./rootfs.js');
/* eslint-enable @typescript-eslint/no-require-imports */

/** A sink whose module loads when the sink is first used. */
function lazy<O extends BuildOutput>(load: () => Sink<O>, image: boolean): Sink<O> {
  return {
    image,
    describe: (o, tags) => load().describe(o, tags),
    check: (o, tags) => load().check(o, tags),
    write: (artifact, o, opts) => load().write(artifact, o, opts),
  };
}

const SINKS: { readonly [K in BuildOutput['type']]: Sink<Extract<BuildOutput, { type: K }>> } = {
  'oci-archive': ociArchiveSink,
  'oci-dir': ociDirSink,
  docker: lazy(() => dockerDaemon().dockerSink, true),
  registry: registrySink,
  'rootfs-tar': lazy(() => rootfs().rootfsTarSink, false),
  'rootfs-dir': lazy(() => rootfs().rootfsDirSink, false),
};

/** The sink of an output (the table's type ties each type to its own sink). */
export function sinkOf<O extends BuildOutput>(o: O): Sink<O> {
  // a caller in JavaScript (or with a cast) can name any type: a typed error, not a TypeError
  if (!Object.hasOwn(SINKS, o.type)) throw new KeelError('E_USAGE', `unknown output type ${JSON.stringify(o.type)} (one of ${Object.keys(SINKS).join(', ')})`);
  return SINKS[o.type] as unknown as Sink<O>;
}

/** What an output is, for a progress line: `exporting to image archive out.tar`. */
export const describeOutput = (o: BuildOutput, tags: readonly string[]): string => sinkOf(o).describe(o, tags);

/** Write `artifact` to `output`; a push answers with what each name now points at. */
export const writeOutput = (artifact: BuiltArtifact, output: BuildOutput, opts: OutputOptions): Promise<OutputResult> => sinkOf(output).write(artifact, output, opts);
