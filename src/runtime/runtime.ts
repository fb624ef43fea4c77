/**
 * The seam between RUN and the program that runs containers, as BuildKit's executor interface
 * (executor/executor.go) keeps the exec op from naming a runtime. An implementation takes an OCI
 * bundle (a folder with rootfs/, keel writes config.json for it) and runs it to the end; RUN never
 * names runc or crun. oci-cli.ts implements it for any runtime with runc's command line (runc, crun).
 */
import type { RunSpec } from './oci-spec.js';

export const RUNTIME_NAMES = ['runc', 'crun'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

export interface Runtime {
  readonly name: RuntimeName;
  /**
   * Run `spec` in `bundle` (which holds rootfs/) as container `id`, each output line to `log`.
   * Resolves when the process exits 0; a non-zero exit is a RunError (E_RUN), a container the
   * runtime could not start is E_RUN_SETUP, an abort is E_ABORTED (the container killed first).
   */
  run(bundle: string, id: string, spec: RunSpec, log: (line: string) => void, signal?: AbortSignal): Promise<void>;
  /** The ids of the containers the runtime holds state for. */
  list(): Promise<string[]>;
  /** Kill and forget a container (one a killed build left behind); quiet when it is gone already. */
  remove(id: string): Promise<void>;
}
