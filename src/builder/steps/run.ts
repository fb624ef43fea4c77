/**
 * RUN: from the step cache, or in the OCI runtime on a snapshot of the stage (src/snapshot:
 * overlayfs over the stage's layer folders, the upper folder becoming the new layer's folder, or
 * the stage's tree written out where overlayfs is not to be had; SPEC.md section 7). The key is the command with everything it
 * sees: the layer chain below, environment, user, folder, network, platform and mounts.
 */
import { join } from 'node:path';
import { platformString, type Layer } from '../../image/index.js';
import { chompHeredocContent, type Instruction } from '../../parser/index.js';
import { cdiEdits, type CdiEdits } from '../../runtime/index.js';
import type { FsNode, StageFs } from '../../tree/index.js';
import { explainRunMiss, runKey, runRecipe, timePolicy } from '../cache-key.js';
import { runDevices, runNetwork, runSecurity } from '../entitlements.js';
import { cachedResult, changeLayer, layerFormat, withParents } from '../layers.js';
import { historyEntry } from '../stage.js';
import type { StepContext, StepResult } from '../step-context.js';
import { chainKey, saveRunDelta } from '../tree-deltas.js';
import { resolveUser, rootReader, type RootFiles } from '../users.js';
import { holdMounts, runMounts, type RunMounts } from './run-mounts.js';

type RunInstruction = Extract<Instruction, { kind: 'RUN' }>;

const PROXY_NAMES = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'] as const;
/** BuildKit's predefined proxy ARGs, in both spellings (as RUN's environment has them). */
const PROXY_ARGS: ReadonlySet<string> = new Set(PROXY_NAMES.flatMap((k) => [k, k.toLowerCase()]));

/**
 * The proxy variables the build args give RUN: a build arg named like one (any case) sets both
 * spellings, `HTTP_PROXY` and `http_proxy` (dockerfile2llb proxyEnvFromBuildArgs, then the exec
 * op's proxyEnvList); an empty value sets none.
 */
function proxyEnv(buildArgs: Readonly<Record<string, string>>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const keys = Object.keys(buildArgs).sort();
  for (const name of PROXY_NAMES) {
    let value = '';
    for (const k of keys) if (k.toUpperCase() === name) value = buildArgs[k] as string;
    if (value !== '') out.push([name, value], [name.toLowerCase(), value]);
  }
  return out;
}

/** A RUN's command and sandbox settings, before a root filesystem and a user are chosen for it. */
interface RunCommand {
  readonly args: readonly string[];
  readonly env: ReadonlyArray<readonly [string, string]>;
  readonly cwd: string;
  readonly network: 'sandbox' | 'host' | 'none';
  readonly security: 'sandbox' | 'insecure';
  readonly devices?: CdiEdits;
  readonly extraHosts: ReadonlyArray<{ readonly host: string; readonly ip: string }>;
  /** Held (caches as their sharing says) only while the command runs. */
  readonly mounts: RunMounts;
  /** The mount targets as tree paths. */
  readonly targets: readonly string[];
}

/** What a RUN made: its layer (none when it changed nothing) and the stage's tree, if one is kept. */
interface Ran {
  readonly layer?: Layer;
  readonly tree?: StageFs;
}

export async function runStep(ins: RunInstruction, ctx: StepContext): Promise<StepResult> {
  const s = ctx.stage;
  const args = commandArgs(ins, s.cfg.shell ?? ['/bin/sh', '-c']);
  const cwd = `/${s.cfg.workdir ?? ''}`;
  const mounts = await runMounts(ins, ctx, cwd);
  const secretNames = new Set(mounts.secretEnv.map(([k]) => k));
  // the proxy variables given as build args are in every RUN's environment without an ARG, never in
  // the image, and never in a key (BuildKit's llb.ProxyEnv; the ExecOp's cache map leaves it out)
  const proxies = proxyEnv(ctx.opts.buildArgs ?? {}).filter(([k]) => !s.vars.has(k));
  const vars = [...s.vars.entries(), ...proxies];
  // RUN --network= as written, else the build's; what escapes the sandbox only with the user's allow
  const allow = new Set(ctx.opts.allow ?? []);
  const network = runNetwork(ins.network, ctx.opts.network, allow);
  const security = runSecurity(ins.security, allow);
  runDevices(ins.devices.map((d) => d.name), allow);
  // the devices as this machine has them (CDI specs), looked for only when a RUN asks
  const devices = ins.devices.length === 0 ? undefined
    : await cdiEdits(ins.devices, await ctx.cdiDevices(), (message) => ctx.emit({ type: 'log', step: ctx.step, line: `WARNING: ${message}` }));
  const extraHosts = ctx.opts.extraHosts ?? [];
  const history = historyEntry(`RUN ${args.join(' ')} # buildkit`, ctx.times.created());
  // the output of a RUN depends on everything before it: the key is made from the stage's chain
  // key (and USER as written: with the chain fixed, it names the same ids), never from its layers
  const inputs = {
    parent: s.key, args, env: vars.filter(([k]) => !secretNames.has(k) && !PROXY_ARGS.has(k)), cwd,
    user: s.cfg.user ?? '', network, security, platform: platformString(ctx.platform), mounts: mounts.keys,
    extraHosts: extraHosts.map((h) => `${h.host} ${h.ip}`), layers: layerFormat(ctx), epoch: timePolicy(ctx.times),
    devices: ins.devices.map((d) => d.name),
  };
  const key = runKey(inputs);
  // a hit needs no layer below it: its layers are checked where they are used (folders, trees, outputs)
  const hit = ctx.noCache ? undefined : await ctx.stepCache.get(key);
  if (hit !== undefined) return { ...(await cachedResult(ctx, hit)), key, history };
  // a miss runs on the layer folders: their extraction starts beside the runtime's checks, each
  // named by its diffID only once verified (layer-dirs.ts)
  const folders = ctx.workspace.prepare().then(() => ctx.snapshots.warm(s.layers, ctx.signal));
  folders.catch(() => undefined); // its failure is the RUN's, below
  await ctx.workspace.prepare();
  await ctx.workspace.canRun(ctx.platform);
  const run: RunCommand = {
    args, env: [...vars, ...mounts.secretEnv], cwd, network, security, extraHosts, mounts, ...(devices === undefined ? {} : { devices }), targets: mounts.mounts.map((m) => m.target.replace(/^\/+/, '')),
  };
  // why it missed, against what it saw in the last build (read beside the run, saved after it)
  const recipe = runRecipe(inputs);
  const reason = ctx.noCache ? Promise.resolve('--no-cache') : ctx.stepCache.lastRecipe(ctx.stepId).then((last) => explainRunMiss(last, recipe, s.lastMiss), () => 'not built before');
  const ran = await runOnSnapshot(ctx, run);
  await ctx.stepCache.put(key, { layer: ran.layer ?? null });
  await ctx.stepCache.saveRecipe(ctx.stepId, recipe);
  return { ...ran, key, history, cached: false, reason: await reason };
}

/** The process's argv: exec form as written, else the shell with the script (and heredoc bodies). */
function commandArgs(ins: RunInstruction, shell: readonly string[]): string[] {
  const command = ins.command;
  const only = ins.heredocs.length === 1 && command.form === 'shell' && /^<<-?['"]?[^'"\s]+['"]?$/.test(command.script.trim()) ? ins.heredocs[0] : undefined;
  // a RUN that is one heredoc runs its body as the script (dockerfile2llb dispatchRun)
  if (only !== undefined) return [...shell, only.chomp ? chompHeredocContent(only.content) : only.content];
  if (command.form === 'exec') return command.args.map((a) => a.value);
  // heredocs inside a longer command line are given to the shell with their bodies
  let script = command.script;
  for (const h of ins.heredocs) script += `\n${h.content}${h.name}`;
  return [...shell, script];
}

/**
 * RUN on a snapshot of the stage: prepared on its chain, the command run on its root folder, the
 * change read and made the new layer, which the snapshot is then committed as. Where the
 * snapshotter keeps the change in a layer folder, what the layer does to the tree is saved beside
 * it (a later step that needs the tree, now or in a later build, replays it instead of unpacking
 * the layer).
 */
async function runOnSnapshot(ctx: StepContext, c: RunCommand): Promise<Ran> {
  const s = ctx.stage;
  const snapshotter = await ctx.snapshots.for(s.layers.length);
  const bundle = ctx.workspace.scratchPath('bundle');
  const snapshot = await snapshotter.prepare({ layers: s.layers, tree: () => ctx.sources.treeOf(s) }, bundle, ctx.signal);
  try {
    const parent = snapshot.parent;
    await execute(ctx, bundle, c, 'folder' in parent ? rootReader(parent.folder) : parent.tree);
    const changes = await snapshot.changes(c.targets, (mtime) => ctx.times.mtime(mtime));
    const layer = await changeLayer(ctx, changes.fs, changes.paths);
    if (changes.whole) {
      if (layer !== undefined) await snapshot.commit(layer);
      return { tree: changes.fs, ...(layer === undefined ? {} : { layer }) };
    }
    if (layer === undefined) return {};
    const dir = await snapshot.commit(layer);
    if (dir === undefined) return { layer };
    const delta = withParents(changes.paths).map((path): [string, FsNode | null] => {
      const node = changes.fs.get(path);
      return [path, node?.type === 'file' && node.source.kind === 'host' ? { ...node, source: { ...node.source, path: join(dir, path) } } : node ?? null];
    });
    await saveRunDelta(join(ctx.cacheDir, 'extract'), layer, chainKey([...s.layers, layer]), dir, delta);
    if (s.tree === undefined) return { layer };
    // keep a tree a step made current
    const tree = s.tree;
    for (const [path, node] of delta) {
      if (node === null) tree.deleteTree(path);
      else tree.set(path, node);
    }
    return { layer, tree };
  } finally {
    await snapshot.remove();
  }
}

/** Run the command in `bundle` (holding rootfs/) as the stage's USER, looked up in `files`. */
async function execute(ctx: StepContext, bundle: string, c: RunCommand, files: RootFiles): Promise<void> {
  const user = await resolveUser(ctx.stage.cfg.user ?? '', files);
  const held = await holdMounts(c.mounts, ctx);
  try {
    const spec = { ...c, mounts: held.runtime, uid: user.uid, gid: user.gid, additionalGids: user.additionalGids, hostname: 'buildkitsandbox', userNamespace: ctx.workspace.sandbox.userNamespace };
    const step = ctx.step;
    await ctx.workspace.runtime.run(bundle, ctx.workspace.containerId(), spec, (line) => ctx.emit({ type: 'log', step, line }), ctx.signal);
  } finally {
    await held.release();
  }
}
