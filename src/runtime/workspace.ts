/**
 * One build's place to run RUN: its scratch folder `<cacheDir>/run/<pid>-<random>/` (bundles, bind
 * and secret files; removed when the build ends), the runtime, and what a build learns once: that
 * stale runs were reaped, and which platforms it can run. The folders a RUN runs on are the
 * snapshotter's (src/snapshot), which keeps its mounts in this scratch folder too.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { platformString, type Platform } from '../image/index.js';
import { checkCanRun } from './emulation.js';
import type { Runtime } from './runtime.js';
import type { Sandbox } from './sandbox.js';
import { reapStaleRuns, removeRunDir } from './stale-runs.js';

export interface WorkspaceOptions {
  readonly cacheDir: string;
  /** The runtime, made when the first RUN needs it (a build without RUN needs none installed). */
  readonly runtime: () => Runtime;
  readonly sandbox: Sandbox;
  /** Whether this process is root in its user namespace (it may mount and start containers). */
  readonly privileged: boolean;
  /** This process's id, in scratch folder names and container ids (stale-runs.ts reaps by it). */
  readonly pid: number;
  /** The platform this machine runs natively; a RUN for another needs an emulator (emulation.ts). */
  readonly hostPlatform: Platform;
  /** Where binfmt_misc's registrations are read. */
  readonly binfmtDir: string;
}

export class RunWorkspace {
  private readonly scratch: string;
  private counter = 0;
  /** Whether anything was put in the scratch folder (a build without RUN leaves nothing to clean). */
  private used = false;
  private made: Runtime | undefined;
  private ready: Promise<void> | undefined;
  private readonly runnable = new Map<string, Promise<void>>();

  constructor(private readonly opts: WorkspaceOptions) {
    this.scratch = join(opts.cacheDir, 'run', `${opts.pid}-${randomBytes(6).toString('hex')}`);
  }

  get sandbox(): Sandbox {
    return this.opts.sandbox;
  }

  get runtime(): Runtime {
    this.made ??= this.opts.runtime();
    return this.made;
  }

  /** A fresh path in the scratch folder (`bundle-3`, `secret-4`). */
  scratchPath(prefix: string): string {
    this.used = true;
    return join(this.scratch, `${prefix}-${++this.counter}`);
  }

  /** A container id stale-runs.ts can tell the owner of: `keel-<pid>-<n>-<ms>`. */
  containerId(): string {
    return `keel-${this.opts.pid}-${++this.counter}-${Date.now()}`;
  }

  /**
   * What builds killed in the middle of a RUN left (their containers, mounts and scratch folders),
   * reaped once per build, at its start: a look at `<cacheDir>/run` when nothing was left.
   */
  reapStale(): Promise<void> {
    this.ready ??= reapStaleRuns(join(this.opts.cacheDir, 'run'), this.runtime, this.opts.pid);
    return this.ready;
  }

  /** Before the first container: root (or a user namespace) is there, and what killed builds left is reaped. */
  prepare(): Promise<void> {
    if (!this.opts.privileged) {
      return Promise.reject(new KeelError('E_RUN_SETUP', 'RUN needs root, or a user namespace of your own: run `unshare --user --map-root-user --map-auto --mount keel build …` (with ranges for your user in /etc/subuid and /etc/subgid); a Dockerfile without RUN builds without either'));
    }
    return this.reapStale();
  }

  /** Resolves when a RUN for `platform` can execute here (natively or emulated); E_EMULATOR names what is missing. */
  canRun(platform: Platform): Promise<void> {
    const key = platformString(platform);
    let checked = this.runnable.get(key);
    if (checked === undefined) {
      checked = checkCanRun(platform, this.opts.hostPlatform, this.opts.binfmtDir);
      this.runnable.set(key, checked);
    }
    return checked;
  }

  /** Remove the scratch folder, unmounting whatever a failed RUN left mounted in it. */
  close(): Promise<void> {
    return this.used ? removeRunDir(this.scratch) : Promise.resolve();
  }
}
