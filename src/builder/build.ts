/**
 * build(): a Dockerfile and a build context to an image, written as an OCI archive or folder.
 * Stages run in dependency order (plan.ts); each instruction either changes the stage's file tree
 * (COPY, ADD, WORKDIR: one layer each, made by storeLayer) or only its config (metadata.ts).
 * Words are expanded here, at dispatch, with the stage's variables, as BuildKit does.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { basename, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { BlobStore } from '../cache/blob-store.js';
import { FileHasher } from '../cache/file-hasher.js';
import { defaultCacheDir } from '../cache/location.js';
import { StepCache } from '../cache/step-cache.js';
import { KeelError, isKeelError } from '../errors.js';
import { sha256, type Digest } from '../image/digest.js';
import { assembleImage, canonicalJson, type BuiltImage, type ContainerConfig, type HistoryEntry, type ImageConfig, type Platform } from '../image/image.js';
import { storeLayer, type Compression, type Layer, type LayerEntry } from '../image/layer.js';
import { writeOciArchive, writeOciDir } from '../image/layout.js';
import { parseTag } from '../image/reference.js';
import { layerCompression } from '../image/media-types.js';
import { chompHeredocContent, expandWord, parse, type Dockerfile, type Instruction, type Range } from '../parser/index.js';
import { cacheKey, explainMiss, type Recipe, type RecipeEntry } from './cache-key.js';
import { download, isRemote, redactUrl } from './download.js';
import { loadContext, ignorePatterns, type BuildContext } from './context.js';
import { applyTar, sniffArchive, type Compression as ArchiveCompression } from './apply-tar.js';
import { baseFromImage, findBaseImage, loadBaseImage, treeFromLayers, type BaseImage } from './base-image.js';
import { pullImage, type PullPolicy } from '../registry/pull.js';
import { formatReference, parseReference, type Reference } from '../registry/reference.js';
import type { AuthOption } from '../registry/credentials.js';
import type { RegistryOptions } from '../registry/client.js';
import { pushImage } from '../registry/push.js';
import { copyInto, destination, type Owner } from './copy.js';
import { hasGoWildcard } from './go-match.js';
import { DockerfileError } from './errors.js';
import { applyMetadata, DEFAULT_PATH, isMetadata, setEnv, type StageConfig } from './metadata.js';
import { planStages, requiredStages, stageRef, targetStage, type Plan, type StagePlan } from './plan.js';
import type { BuildEvent } from './progress.js';
import { cleanPath, openSource, parentOf, StageFs, type FsNode } from './stage-fs.js';
import { resolveOwner, resolveUser, rootReader, type RootFiles } from './users.js';
import { diffRootfs, materialize, runc, type RuntimeMount } from './run.js';
import { commitLayerDir, ensureLayerDir, layerDirPath } from './layer-dirs.js';
import { reapStaleRuns, removeRunDir } from './stale-runs.js';
import { sandbox } from './userns.js';
import { MAX_OVERLAY_LAYERS, mountOverlay, overlayChanges, overlayUsable, removeStubs, type OverlayChanges } from './overlay.js';
import { MountError, parseMount, type Mount } from '../parser/index.js';

export type BuildOutput =
  | { readonly type: 'oci-archive'; readonly path: string }
  | { readonly type: 'oci-dir'; readonly path: string }
  /** Push to the registry of each tag (every tag must name one, e.g. `127.0.0.1:5000/app:1`). */
  | { readonly type: 'registry' };

export interface BuildOptions {
  /** The build context folder. */
  readonly context: string;
  /** A path relative to the context (or absolute), or the text itself. @default 'Dockerfile' */
  readonly dockerfile?: string | { readonly text: string };
  /** Names to give the image in the output (`app:1`). */
  readonly tags?: readonly string[];
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** The stage to build. @default the last stage */
  readonly target?: string;
  /** @default $KEEL_CACHE_DIR, else $XDG_CACHE_HOME/keel, else ~/.cache/keel */
  readonly cacheDir?: string;
  /** Do not use cached steps (results are still stored for the next build). */
  readonly noCache?: boolean;
  /** Where to write the image; without it the image is only built (its blobs stay in the cache). */
  readonly output?: BuildOutput;
  readonly onProgress?: (event: BuildEvent) => void;
  readonly signal?: AbortSignal;
  /** `os/arch[/variant]`. @default linux and the host's architecture */
  readonly platform?: string;
  /** 'normalize' (default): layer mtimes become SOURCE_DATE_EPOCH-clamped or 1980-01-01; 'preserve': source mtimes. */
  readonly timestamps?: 'normalize' | 'preserve';
  /** Seconds since the epoch (also taken from a SOURCE_DATE_EPOCH build arg). */
  readonly sourceDateEpoch?: number;
  /** @default 'gzip' */
  readonly compression?: Compression;
  /**
   * Base images from local archives (a `docker save` tar or an OCI archive), by the name FROM or
   * `COPY --from` uses: `{ 'node:20': '/images/node-20.tar' }`. Registry pulls are their own issue.
   */
  readonly baseImages?: Readonly<Record<string, string>>;
  /**
   * Other base images come from their registry: 'missing' (default) uses a tag pulled before as
   * stored (as `docker build` without --pull) and downloads only what it does not have; 'always'
   * asks the registry where the tag points now and fetches the manifest again; 'never' uses only
   * what is stored.
   */
  readonly pull?: PullPolicy;
  /** Registries to speak plain HTTP to (loopback ones always are). */
  readonly insecureRegistries?: readonly string[];
  /** Credentials by registry; otherwise Docker's config.json and credential helpers are used. */
  readonly auth?: AuthOption;
  /** Where Docker's config.json is. @default ~/.docker */
  readonly dockerConfigDir?: string;
  /** Push: blobs up to this size go up in one request, larger ones in chunks of it. @default 16 MiB */
  readonly uploadChunkSize?: number;
  /** For RUN --mount=type=secret,id=ID: a file to read, or the value itself. Never in a layer or a cache key. */
  readonly secrets?: Readonly<Record<string, { readonly path: string } | { readonly value: string }>>;
}

export interface BuildResult {
  readonly manifestDigest: Digest;
  readonly configDigest: Digest;
  readonly layers: ReadonlyArray<{ readonly digest: Digest; readonly diffId: Digest; readonly size: number; readonly cached: boolean }>;
  readonly tags: readonly string[];
  readonly steps: ReadonlyArray<{ readonly name: string; readonly cached: boolean; readonly seconds: number }>;
  readonly image: BuiltImage;
  /** With `output: { type: 'registry' }`: each tag pushed, with the manifest digest the registry holds. */
  readonly pushed?: ReadonlyArray<{ readonly reference: string; readonly digest: Digest }>;
}

/** 1980-01-01T00:00:00Z: layer mtimes without SOURCE_DATE_EPOCH (zip tools refuse earlier times). */
const NORMALIZED_MTIME = 315532800;

interface StageState {
  /** Where this stage is in the Dockerfile, to name its steps across builds. */
  readonly id: string;
  /** The registry image it started from (for the output's base annotations). */
  readonly base?: { readonly name: string; readonly digest: Digest };
  /**
   * The file tree, when a step has needed it (COPY, WORKDIR, a bind mount, the copy path of RUN);
   * undefined means "the layers stacked", made only when asked for (Builder.treeOf).
   */
  tree: StageFs | undefined;
  readonly cfg: StageConfig;
  readonly vars: Map<string, string>;
  readonly layers: Layer[];
  readonly history: HistoryEntry[];
}

/** A RUN's command and sandbox settings, before a root filesystem and a user are chosen for it. */
interface RunCommand {
  readonly args: readonly string[];
  readonly env: ReadonlyArray<readonly [string, string]>;
  readonly cwd: string;
  readonly network: 'host' | 'none';
  readonly mounts: readonly RuntimeMount[];
  /** The mount targets as tree paths. */
  readonly targets: readonly string[];
  readonly log: (line: string) => void;
}

function hostPlatform(spec?: string): Platform {
  if (spec === undefined) return { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' };
  const [os, architecture, variant] = spec.split('/');
  if (os === undefined || os === '' || architecture === undefined || architecture === '') {
    throw new KeelError('E_BUILD_INPUT', `invalid platform ${JSON.stringify(spec)}: want os/arch[/variant]`);
  }
  return { os, architecture, ...(variant === undefined ? {} : { variant }) };
}

const platformString = (p: Platform): string => `${p.os}/${p.architecture}${p.variant === undefined ? '' : `/${p.variant}`}`;

function emptyStage(id: string): StageState {
  return {
    id,
    tree: new StageFs(),
    cfg: {
      env: [['PATH', DEFAULT_PATH]],
      labels: new Map(),
      exposedPorts: new Set(),
      volumes: new Set(),
      workdir: '', // BuildKit gives scratch a WorkingDir of / (dockerfile2llb/image.go)
      cmdSetInStage: false,
      onBuild: [],
      argsEscaped: false,
    },
    vars: new Map([['PATH', DEFAULT_PATH]]),
    layers: [],
    history: [],
  };
}

function inherit(base: StageState, id: string): StageState {
  const cfg: StageConfig = {
    ...base.cfg,
    env: base.cfg.env.map(([k, v]) => [k, v] as [string, string]),
    labels: new Map(base.cfg.labels),
    exposedPorts: new Set(base.cfg.exposedPorts),
    volumes: new Set(base.cfg.volumes),
    onBuild: [...base.cfg.onBuild],
    cmdSetInStage: false,
  };
  return {
    id, tree: base.tree?.clone(), cfg, vars: new Map(cfg.env), layers: [...base.layers], history: [...base.history],
    ...(base.base === undefined ? {} : { base: base.base }),
  };
}

function parseChmod(spec: string): number {
  if (/^[0-7]+$/.test(spec) && parseInt(spec, 8) <= 0o7777) return parseInt(spec, 8);
  throw new KeelError('E_UNSUPPORTED', `invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`);
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  return new Builder(options).run();
}

class Builder {
  private readonly platform: Platform;
  private readonly cacheDir: string;
  private readonly store: BlobStore;
  private readonly stepCache: StepCache;
  private readonly hasher: FileHasher;
  /** Cache outcome of the step running now, for its progress event. */
  private stepOutcome: { cached: boolean; reason?: string } = { cached: false };
  /** Which layers came from the cache. */
  private readonly cachedLayers = new Set<Digest>();
  private readonly sourceDateEpoch: number | undefined;
  private readonly steps: Array<{ name: string; cached: boolean; seconds: number }> = [];
  private context: BuildContext | undefined;
  private readonly bases = new Map<string, Promise<StageState>>();
  private dockerfilePath: string | undefined;
  private filename = 'Dockerfile';
  private escape: '\\' | '`' = '\\';
  private stepCount = 0;

  constructor(private readonly opts: BuildOptions) {
    this.platform = hostPlatform(opts.platform);
    const cacheDir = resolvePath(opts.cacheDir ?? defaultCacheDir()); // absolute: mount(8) runs in the layers folder
    this.cacheDir = cacheDir;
    this.store = new BlobStore(cacheDir);
    this.stepCache = new StepCache(cacheDir, this.store);
    this.hasher = new FileHasher(cacheDir);
    const sde = opts.sourceDateEpoch ?? (opts.buildArgs?.SOURCE_DATE_EPOCH === undefined ? undefined : Number(opts.buildArgs.SOURCE_DATE_EPOCH));
    if (sde !== undefined && (!Number.isInteger(sde) || sde < 0)) throw new KeelError('E_BUILD_INPUT', `invalid SOURCE_DATE_EPOCH ${sde}`);
    this.sourceDateEpoch = sde;
    for (const t of opts.tags ?? []) parseTag(t); // refuse a bad tag before doing any work
  }

  async run(): Promise<BuildResult> {
    try {
      return await this.build();
    } finally {
      // a RUN that failed half-way may have left a mount: reap it like a dead build's (stale-runs.ts)
      if (this.runDirPath !== undefined) await removeRunDir(this.runDirPath);
    }
  }

  private async build(): Promise<BuildResult> {
    const ast = await this.readDockerfile();
    this.escape = ast.escapeToken;
    const plan = planStages(ast);
    const globals = this.globalArgs(plan);
    const target = targetStage(plan, this.opts.target);
    const states = new Map<number, StageState>();
    for (const stage of requiredStages(plan, target, globals)) {
      states.set(stage.index, await this.buildStage(plan, stage, globals, states));
    }
    await this.hasher.save();
    const final = states.get(target.index) as StageState;
    // which base the image was built on (OCI's standard annotations)
    const annotations = final.base === undefined ? undefined : {
      'org.opencontainers.image.base.name': final.base.name,
      'org.opencontainers.image.base.digest': final.base.digest,
    };
    const image = assembleImage(this.imageConfig(final), final.layers, annotations);
    const tags = this.opts.tags ?? [];
    const out = this.opts.output;
    let pushed: BuildResult['pushed'];
    if (out?.type === 'oci-archive') await writeOciArchive(image, tags, this.store, out.path, this.opts.signal);
    else if (out?.type === 'oci-dir') await writeOciDir(image, tags, this.store, out.path);
    else if (out?.type === 'registry') {
      if (tags.length === 0) throw new KeelError('E_BUILD_INPUT', 'pushing needs at least one tag naming the registry (-t registry/name:tag)');
      const base = final.base === undefined ? undefined : parseReference(final.base.name);
      pushed = await pushImage(image, tags, this.store, { ...this.registryOptions(), ...(base === undefined ? {} : { mountFrom: base }) });
    }
    return {
      manifestDigest: image.manifestBlob.digest,
      configDigest: image.configBlob.digest,
      layers: image.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, cached: this.cachedLayers.has(l.digest) })),
      tags: [...tags],
      steps: this.steps,
      image,
      ...(pushed === undefined ? {} : { pushed }),
    };
  }

  private async readDockerfile(): Promise<Dockerfile> {
    const df = this.opts.dockerfile ?? 'Dockerfile';
    if (typeof df !== 'string') return parse(df.text, { filename: 'Dockerfile' });
    const path = isAbsolute(df) ? df : join(this.opts.context, df);
    this.dockerfilePath = path;
    this.filename = df;
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new KeelError('E_BUILD_INPUT', `cannot read the Dockerfile ${path}: ${e.code ?? e.message}`);
    });
    return parse(text, { filename: df });
  }

  /** Predefined platform ARGs, then the ARGs before the first FROM (build args override defaults). */
  private globalArgs(plan: Plan): Map<string, string> {
    const build = hostPlatform(undefined);
    const p = this.platform;
    const globals = new Map<string, string>([
      ['TARGETPLATFORM', platformString(p)], ['TARGETOS', p.os], ['TARGETARCH', p.architecture], ['TARGETVARIANT', p.variant ?? ''],
      ['BUILDPLATFORM', platformString(build)], ['BUILDOS', build.os], ['BUILDARCH', build.architecture], ['BUILDVARIANT', ''],
    ]);
    for (const ins of plan.globalArgs) {
      for (const d of ins.declarations) {
        const given = this.opts.buildArgs?.[d.name];
        if (given !== undefined) globals.set(d.name, given);
        else if (d.default !== undefined) globals.set(d.name, this.at(ins, () => expandWord(d.default as string, globals, { escape: this.escape })));
      }
    }
    return globals;
  }

  private async buildStage(plan: Plan, stage: StagePlan, globals: Map<string, string>, built: Map<number, StageState>): Promise<StageState> {
    const total = stage.instructions.length + 1;
    const label = (i: number): string => `[${stage.name === undefined ? '' : `${stage.name} `}${i}/${total}]`;
    const image = this.at(stage.from, () => expandWord(stage.from.image.value, globals, { escape: this.escape }));
    const id = `${this.dockerfilePath ?? '<text>'}#${stage.index}`;
    let state: StageState;
    await this.step(`${label(1)} FROM ${image}`, async () => {
      if (image === '') throw new KeelError('E_BUILD_INPUT', `base name (${stage.from.image.value}) should not be blank`);
      const base = stageRef(plan, image, stage.index, false);
      if (base !== undefined) state = inherit(built.get(base.index) as StageState, id);
      else if (image.toLowerCase() === 'scratch') state = emptyStage(id);
      else state = inherit(await this.baseImage(image), id);
    }, stage.from);
    const s = state! as StageState; // eslint-disable-line @typescript-eslint/no-non-null-assertion
    // ONBUILD triggers of a base image run first, then are not inherited (BuildKit, convert.go)
    const triggers = s.cfg.onBuild.splice(0);
    for (const [i, expression] of triggers.entries()) {
      const trigger = parse(`FROM scratch\n${expression}`, { filename: `${image} ONBUILD` }).instructions.slice(1);
      for (const ins of trigger) {
        await this.step(`${label(1)} ONBUILD ${i + 1}/${triggers.length}: ${ins.original.trim()}`, () => this.dispatch(ins, s, plan, stage, globals, built), stage.from);
      }
    }
    for (const [i, ins] of stage.instructions.entries()) {
      await this.step(`${label(i + 2)} ${ins.original.trim()}`, () => this.dispatch(ins, s, plan, stage, globals, built), ins);
    }
    return s;
  }

  private async dispatch(ins: Instruction, s: StageState, plan: Plan, stage: StagePlan, globals: Map<string, string>, built: Map<number, StageState>): Promise<void> {
    this.currentPlan = { plan, stage };
    this.currentBuilt = built;
    const word = (w: string): string => expandWord(w, s.vars, { escape: this.escape });
    if (isMetadata(ins)) {
      const text = applyMetadata(ins, s.cfg, s.vars, this.escape);
      if (text !== undefined) s.history.push(this.history(text, false));
      return;
    }
    switch (ins.kind) {
      case 'ARG': {
        const parts: string[] = [];
        for (const d of ins.declarations) {
          const given = this.opts.buildArgs?.[d.name];
          const value = given ?? (d.default !== undefined ? word(d.default) : globals.get(d.name));
          if (value !== undefined) s.vars.set(d.name, value);
          parts.push(value === undefined ? d.name : `${d.name}=${value}`);
        }
        s.history.push(this.history(`ARG ${parts.join(' ')}`, false));
        return;
      }
      case 'WORKDIR': {
        const p = word(ins.path.value);
        const wd = p.startsWith('/') ? p : join('/', s.cfg.workdir ?? '', p);
        const tree = wd.replace(/^\/+/, '').replace(/\/+$/, '');
        s.cfg.workdir = tree;
        const created: string[] = [];
        const fs = await this.treeOf(s);
        // the user's primary group from passwd, as for a process (BuildKit runs the mkdir as USER)
        const owner = s.cfg.user === undefined ? { uid: 0, gid: 0 } : await resolveUser(s.cfg.user, fs);
        for (let dir = tree; dir !== ''; dir = parentOf(dir)) {
          if (fs.get(fs.resolve(dir, true)) === undefined) created.unshift(dir);
        }
        for (const dir of created) fs.set(dir, { type: 'directory', mode: 0o755, ...owner, mtime: this.createdMtime() });
        const text = `WORKDIR /${tree}`;
        const layer = await this.layer(s, fs, created, `${s.id}:${ins.range.start.line}`, text);
        s.history.push(this.history(text, layer !== undefined));
        return;
      }
      case 'COPY':
      case 'ADD':
        return this.copy(ins, s, plan, stage, built);
      case 'RUN':
        return this.runInstruction(ins, s);
      case 'FROM':
        throw new KeelError('E_INTERNAL', 'FROM inside a stage');
      default:
        return assertNever(ins);
    }
  }

  /** RUN: from the cache, or under runc on the stage's layers stacked (overlay.ts) or written out (run.ts). */
  private async runInstruction(ins: Extract<Instruction, { kind: 'RUN' }>, s: StageState): Promise<void> {
    const shell = s.cfg.shell ?? ['/bin/sh', '-c'];
    let args: string[];
    const command = ins.command;
    const only = ins.heredocs.length === 1 && command.form === 'shell' && /^<<-?['"]?[^'"\s]+['"]?$/.test(command.script.trim()) ? ins.heredocs[0] : undefined;
    if (only !== undefined) {
      // a RUN that is one heredoc runs its body as the script (dockerfile2llb dispatchRun)
      args = [...shell, only.chomp ? chompHeredocContent(only.content) : only.content];
    } else if (command.form === 'exec') {
      args = command.args.map((a) => a.value);
    } else {
      // heredocs inside a longer command line are given to the shell with their bodies
      let script = command.script;
      for (const h of ins.heredocs) script += `\n${h.content}${h.name}`;
      args = [...shell, script];
    }
    const env = [...s.vars.entries()];
    const cwd = `/${s.cfg.workdir ?? ''}`;
    const mounts = await this.runMounts(ins, s, cwd, env);
    const network = ins.network === 'none' ? 'none' : 'host';
    const text = `RUN ${args.join(' ')}`;
    // the output of a RUN depends on everything before it: the key includes the layer chain (and
    // USER as written: with the chain fixed, it names the same ids)
    const key = sha256(canonicalJson({
      kind: 'RUN', version: 2, parent: s.layers.map((l) => l.diffId), args, env: env.filter(([k]) => !mounts.secretEnv.has(k)), cwd,
      user: s.cfg.user ?? '', network, platform: platformString(this.platform), mounts: mounts.keys,
    }));
    const hit = this.opts.noCache === true ? undefined : await this.stepCache.get(key);
    if (hit !== undefined) {
      if (hit.layer !== null) {
        const layer = { ...hit.layer, mediaType: hit.layer.mediaType as Layer['mediaType'] };
        if (s.tree !== undefined) {
          const compression = layerCompression(layer.mediaType);
          await applyTar(s.tree, await this.store.open(layer.digest), compression, { dest: '', contentDir: join(this.cacheDir, 'extract', layer.diffId.slice(7)), whiteouts: true, createdMtime: 0 });
        }
        s.layers.push(layer);
        this.cachedLayers.add(layer.digest);
      }
      this.stepOutcome = { cached: true };
      s.history.push(this.history(`${text} # buildkit`, hit.layer !== null));
      return;
    }
    if (process.getuid?.() !== 0) {
      throw new KeelError('E_RUN_SETUP', 'RUN needs root, or a user namespace of your own: run `unshare --user --map-root-user --map-auto --mount keel build …` (with ranges for your user in /etc/subuid and /etc/subgid); a Dockerfile without RUN builds without either');
    }
    this.reaped ??= reapStaleRuns(join(this.cacheDir, 'run'), this.runcRoot()); // what a killed build left, once per build
    await this.reaped;
    const step = this.stepCount;
    const run: RunCommand = {
      args, env, cwd, network, mounts: mounts.runtime, targets: mounts.runtime.map((m) => m.target.replace(/^\/+/, '')),
      log: (line) => this.opts.onProgress?.({ type: 'log', step, line }),
    };
    const layersRoot = join(this.cacheDir, sandbox().layersFolder);
    const overlay = await overlayUsable(this.runDir()) && s.layers.length <= MAX_OVERLAY_LAYERS;
    const layer = overlay ? await this.runOnOverlay(s, run, layersRoot) : await this.runOnCopy(s, run);
    await this.stepCache.put(key, { layer: layer ?? null });
    this.stepOutcome = { cached: false, reason: this.opts.noCache === true ? '--no-cache' : 'ran' };
    s.history.push(this.history(`${text} # buildkit`, layer !== undefined));
  }

  /** RUN on the stage's layer folders stacked with overlayfs; the upper folder becomes the new layer's folder. */
  private async runOnOverlay(s: StageState, c: RunCommand, layersRoot: string): Promise<Layer | undefined> {
    await mkdir(layersRoot, { recursive: true });
    const lowers: string[] = [];
    for (const l of s.layers) lowers.unshift(basename(await ensureLayerDir(layersRoot, this.store, l, sandbox().overlayXattr, this.opts.signal)));
    if (lowers.length === 0) {
      await mkdir(join(layersRoot, 'empty'), { recursive: true }); // FROM scratch: nothing below
      lowers.push('empty');
    }
    const bundle = join(this.runDir(), `${++this.runs}`);
    const upper = join(bundle, 'upper');
    await mkdir(upper, { recursive: true });
    await mkdir(join(bundle, 'work'));
    const ov = await mountOverlay(layersRoot, lowers, upper, join(bundle, 'work'), join(bundle, 'rootfs'));
    let changes: OverlayChanges;
    try {
      await this.execute(bundle, c, s, rootReader(ov.before));
      changes = await overlayChanges(ov, c.targets);
    } catch (e) {
      await ov.unmount();
      throw e;
    }
    // the layer is read from the upper folder alone, so the unmount runs meanwhile
    const unmounted = ov.unmount();
    let layer: Layer | undefined;
    try {
      layer = await this.runLayer(s, changes.fs, changes.paths);
    } finally {
      await unmounted;
    }
    if (layer === undefined) return undefined;
    await removeStubs(upper, changes);
    const dir = layerDirPath(layersRoot, layer);
    await commitLayerDir(upper, dir);
    if (s.tree !== undefined) {
      // keep a tree a step made current: its new files are in the layer's folder now
      for (const path of changes.paths) if (changes.fs.get(path) === undefined) s.tree.deleteTree(path);
      for (const path of changes.fs.paths()) {
        const node = changes.fs.get(path) as FsNode;
        s.tree.set(path, node.type === 'file' && node.source.kind === 'host' ? { ...node, source: { ...node.source, path: join(dir, path) } } : node);
      }
    }
    return layer;
  }

  /** RUN on the stage's tree written out to a plain folder (no overlayfs here), changes found by comparing. */
  private async runOnCopy(s: StageState, c: RunCommand): Promise<Layer | undefined> {
    const fs = await this.treeOf(s);
    const bundle = join(this.runDir(), `${++this.runs}`);
    const rootfs = join(bundle, 'rootfs');
    await materialize(fs, rootfs);
    await this.execute(bundle, c, s, fs);
    const changes = await diffRootfs(fs, rootfs, c.targets);
    for (const change of changes) {
      if (change.node === undefined) fs.deleteTree(change.path);
      else fs.set(change.path, change.node);
    }
    return this.runLayer(s, fs, changes.map((change) => change.path));
  }

  /** Run the command under runc in `bundle` (holding rootfs/) as the stage's USER, looked up in `files`. */
  private async execute(bundle: string, c: RunCommand, s: StageState, files: RootFiles): Promise<void> {
    const user = s.cfg.user === undefined ? { uid: 0, gid: 0 } : await resolveUser(s.cfg.user, files);
    const spec = { ...c, uid: user.uid, gid: user.gid, hostname: 'buildkitsandbox', userNamespace: sandbox().userNamespace };
    await runc(bundle, `keel-${process.pid}-${this.runs}-${Date.now()}`, spec, c.log, this.opts.signal, this.runcRoot());
  }

  /** A stage's tree: made from its layers the first time a step needs it (each stack once per build). */
  private async treeOf(s: StageState): Promise<StageFs> {
    if (s.tree === undefined) {
      const chain = s.layers.map((l) => l.diffId).join(',');
      let made = this.trees.get(chain);
      if (made === undefined) {
        made = treeFromLayers(s.layers, { store: this.store, extractDir: join(this.cacheDir, 'extract') });
        this.trees.set(chain, made);
      }
      s.tree = (await made).clone();
    }
    return s.tree;
  }

  private readonly trees = new Map<string, Promise<StageFs>>();

  /**
   * RUN --mount values, expanded and checked (parseMount), as runtime mounts, plus what of them
   * goes into the cache key (a bind source by content, a cache by id, a secret by id only).
   * Secrets given as env= are added to `env` (and kept out of the key).
   */
  private async runMounts(ins: Extract<Instruction, { kind: 'RUN' }>, s: StageState, cwd: string, env: Array<[string, string]>) {
    const runtime: RuntimeMount[] = [];
    const keys: unknown[] = [];
    const secretEnv = new Set<string>();
    for (const flag of ins.mounts) {
      let m: Mount;
      try {
        m = parseMount(flag.value, (w) => expandWord(w, s.vars, { escape: this.escape }));
      } catch (e) {
        if (e instanceof MountError) throw new KeelError('E_BUILD_INPUT', e.message);
        throw e;
      }
      const target = m.target === undefined ? undefined : posix.resolve(cwd, m.target);
      switch (m.type) {
        case 'cache': {
          if (target === undefined) throw new KeelError('E_BUILD_INPUT', 'a cache mount needs a target');
          const id = m.cacheId ?? target;
          const host = join(this.cacheDir, 'mounts', 'cache', sha256(id).slice(7, 39));
          const fresh = !(await stat(host).then(() => true, () => false));
          await mkdir(host, { recursive: true });
          if (fresh) {
            await chmod(host, m.mode ?? 0o755);
            await chown(host, m.uid ?? 0, m.gid ?? 0);
          }
          runtime.push({ kind: 'bind', target, source: host, readOnly: m.readOnly });
          keys.push({ type: 'cache', target, id, readOnly: m.readOnly });
          break;
        }
        case 'tmpfs':
          if (target === undefined) throw new KeelError('E_BUILD_INPUT', 'a tmpfs mount needs a target');
          runtime.push({ kind: 'tmpfs', target, ...(m.sizeLimit === undefined ? {} : { size: m.sizeLimit }) });
          keys.push({ type: 'tmpfs', target, size: m.sizeLimit ?? 0 });
          break;
        case 'bind': {
          if (target === undefined) throw new KeelError('E_BUILD_INPUT', 'a bind mount needs a target');
          const from = m.from === undefined ? (await this.loadContext()).fs : await this.mountSource(m.from);
          const src = from.resolve(cleanPath(m.source ?? '/'), true);
          const node = from.get(src);
          if (node === undefined) throw new KeelError('E_SOURCE_NOT_FOUND', `RUN --mount source ${JSON.stringify(m.source ?? '/')} not found`);
          // a copy of just that source (the context's .dockerignore holds; a read-write mount's writes are dropped)
          const sub = new StageFs();
          if (node.type === 'directory') {
            sub.set('', node);
            for (const p of from.descendants(src)) sub.set(src === '' ? p : p.slice(src.length + 1), from.get(p) as FsNode);
          } else {
            sub.set('', { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
            sub.set('file', node);
          }
          const host = join(this.runDir(), `bind-${++this.runs}`);
          await materialize(sub, host);
          runtime.push({ kind: 'bind', target, source: node.type === 'directory' ? host : join(host, 'file'), readOnly: m.readOnly });
          const entries = await Promise.all(sub.paths().map((p) => this.recipeEntry(layerEntries([p], sub)[0] as LayerEntry, sub.get(p))));
          keys.push({ type: 'bind', target, from: m.from ?? '', source: m.source ?? '/', readOnly: m.readOnly, content: sha256(canonicalJson(entries)) });
          break;
        }
        case 'secret': {
          const id = m.cacheId ?? (m.target === undefined ? undefined : posix.basename(m.target));
          const given = id === undefined ? undefined : this.opts.secrets?.[id];
          if (given === undefined) {
            if (m.required) throw new KeelError('E_BUILD_INPUT', `secret ${id ?? '(no id)'} is required but was not given`);
            break; // BuildKit skips a secret it does not have unless required
          }
          const value = 'value' in given ? Buffer.from(given.value) : await readFile(given.path);
          if (m.env !== undefined) {
            env.push([m.env, value.toString('utf8')]);
            secretEnv.add(m.env);
          }
          if (m.env === undefined || m.target !== undefined) {
            const host = join(this.runDir(), `secret-${++this.runs}`);
            await writeFile(host, value, { mode: m.mode ?? 0o400 });
            await chown(host, m.uid ?? 0, m.gid ?? 0);
            runtime.push({ kind: 'bind', target: target ?? `/run/secrets/${id as string}`, source: host, readOnly: true });
          }
          keys.push({ type: 'secret', id, target: target ?? '', env: m.env ?? '' }); // the id, never the value
          break;
        }
        case 'ssh':
          throw new KeelError('E_UNSUPPORTED', 'RUN --mount=type=ssh is not supported');
      }
    }
    return { runtime, keys, secretEnv };
  }

  /** A `from=` of a bind mount: an earlier stage (by name or index) or an image. */
  private async mountSource(from: string): Promise<StageFs> {
    const plan = this.currentPlan;
    const dep = plan === undefined ? undefined : stageRef(plan.plan, from, plan.stage.index, true);
    return this.treeOf(dep !== undefined ? (this.currentBuilt?.get(dep.index) as StageState) : await this.baseImage(from));
  }

  private currentPlan: { plan: Plan; stage: StagePlan } | undefined;
  private currentBuilt: Map<number, StageState> | undefined;

  private runDirPath: string | undefined;
  private runs = 0;
  private reaped: Promise<void> | undefined;

  /** runc's state folder: its default as root, the cache's in a user namespace (userns.ts). */
  private runcRoot(): string | undefined {
    return sandbox().userNamespace ? join(this.cacheDir, 'runc') : undefined;
  }

  /** Scratch space for RUN root filesystems, removed when the build ends. */
  private runDir(): string {
    this.runDirPath ??= join(this.cacheDir, 'run', `${process.pid}-${randomBytes(6).toString('hex')}`);
    return this.runDirPath;
  }

  private async copy(ins: Extract<Instruction, { kind: 'COPY' | 'ADD' }>, s: StageState, plan: Plan, stage: StagePlan, built: Map<number, StageState>): Promise<void> {
    const word = (w: string): string => expandWord(w, s.vars, { escape: this.escape });
    const from = ins.kind === 'COPY' ? ins.from : undefined;
    let source: StageFs;
    if (from !== undefined) {
      const dep = stageRef(plan, from, stage.index, true);
      source = await this.treeOf(dep === undefined ? await this.baseImage(from) : (built.get(dep.index) as StageState));
    } else {
      source = (await this.loadContext()).fs;
    }
    const all = ins.sources.filter((x) => x.kind === 'path').map((x) => word(x.path.value));
    const urls = ins.kind === 'ADD' ? all.filter(isRemote) : [];
    const paths = all.filter((p) => !urls.includes(p));
    if (ins.kind === 'ADD' && ins.checksum !== undefined && (urls.length !== 1 || paths.length > 0)) {
      throw new KeelError('E_BUILD_INPUT', 'checksum requires exactly one HTTP(S) source');
    }
    const dest = word(ins.dest.value);
    const chown = ins.chown === undefined ? undefined : word(ins.chown);
    const chmod = ins.chmod === undefined ? undefined : parseChmod(word(ins.chmod));
    const fs = await this.treeOf(s);
    const owner: Owner | undefined = chown === undefined ? undefined : await resolveOwner(chown, fs);
    const mtime = (m: number): number => this.mtime(m);

    // heredoc sources become files in a tree of their own, copied like any other source
    const heredocs = ins.sources.filter((x) => x.kind === 'heredoc');
    const written: string[] = [];
    if (heredocs.length > 0) {
      const docs = new StageFs();
      for (const h of heredocs) {
        let data = h.heredoc.chomp ? chompHeredocContent(h.heredoc.content) : h.heredoc.content;
        if (h.heredoc.expand) data = expandWord(data, s.vars, { escape: '\\', skipProcessQuotes: true });
        const bytes = Buffer.from(data);
        docs.set(h.heredoc.name, { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: this.createdMtime(), size: bytes.length, source: { kind: 'bytes', data: bytes } });
      }
      written.push(...copyInto(fs, {
        instruction: ins.kind, from: docs, fromContext: true, sources: heredocs.map((h) => h.heredoc.name), dest, workdir: s.cfg.workdir ?? '',
        ...(owner === undefined ? {} : { owner }), ...(chmod === undefined ? {} : { chmod }), exclude: [], mtime, createdMtime: this.createdMtime(),
      }));
    }
    // ADD extracts local archives (recognised by content, as BuildKit's isArchivePath does)
    const archives = ins.kind === 'ADD' && ins.unpack !== false ? await this.archivesAmong(source, paths) : new Map<string, ArchiveCompression>();
    const plain = paths.filter((p) => !archives.has(p));
    if (plain.length > 0) {
      written.push(...copyInto(fs, {
        instruction: ins.kind, from: source, fromContext: from === undefined, sources: plain, dest, workdir: s.cfg.workdir ?? '',
        ...(owner === undefined ? {} : { owner }), ...(chmod === undefined ? {} : { chmod }), exclude: ins.exclude, mtime, createdMtime: this.createdMtime(),
        parents: ins.kind === 'COPY' && ins.parents,
      }));
    }
    if (urls.length > 0 && ins.kind === 'ADD') {
      const downloads = new StageFs();
      for (const url of urls) {
        const checksum = ins.checksum === undefined ? undefined : word(ins.checksum);
        const file = await download(url, this.store, checksum, this.opts.signal);
        downloads.set(file.name, {
          type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: this.opts.timestamps === 'preserve' ? (file.lastModified ?? this.createdMtime()) : this.createdMtime(),
          size: file.size, source: { kind: 'host', path: this.store.path(file.digest), fingerprint: `blob:${file.digest}` },
        });
      }
      written.push(...copyInto(fs, {
        instruction: 'ADD', from: downloads, fromContext: true, sources: [...downloads.paths()], dest, workdir: s.cfg.workdir ?? '',
        ...(owner === undefined ? {} : { owner }), ...(chmod === undefined ? {} : { chmod }), exclude: [], mtime: (m) => m, createdMtime: this.createdMtime(),
      }));
    }
    for (const [archive, compression] of archives) {
      const node = source.get(source.resolve(cleanPath(archive), true)) as Extract<FsNode, { type: 'file' }>;
      const id = node.source.kind === 'bytes' ? sha256(node.source.data).slice(7) : await this.hasher.hash(node.source.path, node.source.fingerprint);
      written.push(...await applyTar(fs, toStream(openSource(node.source, node.size)), compression, {
        dest: destination(dest, s.cfg.workdir ?? '').path,
        contentDir: join(this.cacheDir, 'extract', id),
        whiteouts: false,
        ...(owner === undefined ? {} : { owner }),
        mtime,
        createdMtime: this.createdMtime(),
      }));
    }
    const flags = `${ins.kind === 'COPY' && ins.parents ? ' --parents' : ''}${chown === undefined ? '' : ` --chown=${chown}`}${chmod === undefined ? '' : ` --chmod=${ins.chmod ?? ''}`}`;
    const srcs = [...paths, ...urls.map(redactUrl), ...heredocs.map((h) => `<<${h.heredoc.name}`)].join(' ');
    const text = `${ins.kind}${flags} ${srcs} ${dest}`;
    const layer = await this.layer(s, fs, written, `${s.id}:${ins.range.start.line}`, text);
    s.history.push(this.history(`${text} # buildkit`, layer !== undefined));
  }

  /** The sources (of plain, literal paths) that are tar archives, with their compression. */
  private async archivesAmong(source: StageFs, paths: readonly string[]): Promise<Map<string, ArchiveCompression>> {
    const found = new Map<string, ArchiveCompression>();
    for (const p of paths) {
      if (hasGoWildcard(cleanPath(p))) continue;
      const head = await source.readHead(source.resolve(cleanPath(p), true), 512);
      const kind = head === undefined ? undefined : sniffArchive(head);
      if (kind !== undefined) found.set(p, kind);
    }
    return found;
  }

  /** A base image, read once per build: from `baseImages` if given there, else from its registry. */
  private async baseImage(name: string): Promise<StageState> {
    const path = findBaseImage(this.opts.baseImages ?? {}, name);
    const key = path ?? `registry:${name}`;
    let loading = this.bases.get(key);
    if (loading === undefined) {
      loading = this.loadBase(name, path);
      this.bases.set(key, loading);
    }
    return loading;
  }

  private async loadBase(name: string, path: string | undefined): Promise<StageState> {
    // stages start from inherit(base): the loaded image itself is never changed
    const asStage = (base: BaseImage, origin?: StageState['base']): StageState => ({
      id: '', tree: undefined, cfg: base.cfg, vars: new Map(base.cfg.env), layers: [...base.layers], history: [...base.history],
      ...(origin === undefined ? {} : { base: origin }),
    });
    if (path !== undefined) return asStage(await loadBaseImage(path, { store: this.store, platform: this.platform }));
    const ref = parseReference(name);
    const pulled = await pullImage(ref, this.store, this.platform, {
      refsDir: join(this.cacheDir, 'refs'),
      ...(this.opts.pull === undefined ? {} : { pull: this.opts.pull }),
      ...this.registryOptions(),
    });
    return asStage(baseFromImage(pulled), { name: formatReference({ ...ref, digest: undefined } as Reference), digest: pulled.digest });
  }

  private registryOptions(): RegistryOptions {
    return {
      ...(this.opts.insecureRegistries === undefined ? {} : { insecureRegistries: this.opts.insecureRegistries }),
      ...(this.opts.auth === undefined ? {} : { auth: this.opts.auth }),
      ...(this.opts.dockerConfigDir === undefined ? {} : { dockerConfigDir: this.opts.dockerConfigDir }),
      ...(this.opts.uploadChunkSize === undefined ? {} : { uploadChunkSize: this.opts.uploadChunkSize }),
      ...(this.opts.signal === undefined ? {} : { signal: this.opts.signal }),
    };
  }

  private async loadContext(): Promise<BuildContext> {
    this.context ??= await loadContext(this.opts.context, await ignorePatterns(this.opts.context, this.dockerfilePath));
    return this.context;
  }

  /**
   * The layer of `paths` (and their parent folders) from the stage's tree: from the cache when a
   * step with the same recipe made it before, else written now. None when nothing changed.
   */
  private async layer(s: StageState, fs: StageFs, paths: readonly string[], stepId: string, instruction: string): Promise<Layer | undefined> {
    if (paths.length === 0) return undefined;
    const entries = layerEntries(withParents(paths), fs);
    const compression = this.opts.compression ?? 'gzip';
    const recipe: Recipe = {
      version: 1,
      instruction,
      compression,
      entries: await Promise.all(entries.map((e) => this.recipeEntry(e, fs.get(e.path)))),
    };
    const key = cacheKey(recipe);
    const hit = this.opts.noCache === true ? undefined : await this.stepCache.get(key);
    let layer: Layer;
    if (hit?.layer) {
      layer = { ...hit.layer, mediaType: hit.layer.mediaType as Layer['mediaType'] };
      this.cachedLayers.add(layer.digest);
      this.stepOutcome = { cached: true };
    } else {
      const last = await this.stepCache.lastRecipe(stepId);
      const reason = this.opts.noCache === true ? '--no-cache' : explainMiss(last, recipe);
      layer = await storeLayer(entries, this.store, {
        compression,
        ...(this.opts.signal === undefined ? {} : { signal: this.opts.signal }),
      });
      await this.stepCache.put(key, { layer });
      await this.stepCache.saveRecipe(stepId, recipe); // what a later miss of this step is explained against
      this.stepOutcome = { cached: false, reason };
    }
    s.layers.push(layer);
    return layer;
  }

  /**
   * A RUN's layer, written straight away: its cache key is the command's (runInstruction), and a
   * content recipe would only cost a second read of every file it made.
   */
  private async runLayer(s: StageState, fs: StageFs, paths: readonly string[]): Promise<Layer | undefined> {
    if (paths.length === 0) return undefined;
    const layer = await storeLayer(layerEntries(withParents(paths), fs), this.store, {
      compression: this.opts.compression ?? 'gzip',
      ...(this.opts.signal === undefined ? {} : { signal: this.opts.signal }),
    });
    s.layers.push(layer);
    return layer;
  }

  private async recipeEntry(entry: LayerEntry, node: FsNode | undefined): Promise<RecipeEntry> {
    if (entry.type === 'whiteout') return [entry.path, 'whiteout', 0, 0, 0, 0, 0, '', ''];
    const head = [entry.path, entry.type, entry.mode, entry.uid, entry.gid, entry.mtime] as const;
    switch (entry.type) {
      case 'directory':
        return [...head, 0, '', ''];
      case 'symlink':
      case 'hardlink':
        return [...head, 0, entry.target, ''];
      case 'file': {
        const file = node as Extract<FsNode, { type: 'file' }>;
        const hash = file.source.kind === 'bytes' ? sha256(file.source.data).slice(7) : await this.hasher.hash(file.source.path, file.source.fingerprint, file.source.scratch !== true);
        return [...head, file.size, '', hash];
      }
    }
  }

  private mtime(source: number): number {
    if (this.opts.timestamps === 'preserve') return source;
    return this.sourceDateEpoch === undefined ? NORMALIZED_MTIME : Math.min(source, this.sourceDateEpoch);
  }

  private createdMtime(): number {
    if (this.opts.timestamps === 'preserve') return Math.floor(Date.now() / 1000);
    return this.sourceDateEpoch ?? NORMALIZED_MTIME;
  }

  private created(): string {
    return new Date((this.sourceDateEpoch ?? 0) * 1000).toISOString().replace('.000Z', 'Z');
  }

  private history(createdBy: string, withLayer: boolean): HistoryEntry {
    return { created: this.created(), created_by: createdBy, comment: 'buildkit.dockerfile.v0', ...(withLayer ? {} : { empty_layer: true }) };
  }

  private imageConfig(s: StageState): ImageConfig {
    const c = s.cfg;
    const set = (xs: Set<string>) => (xs.size === 0 ? undefined : Object.fromEntries([...xs].sort().map((k) => [k, {}])));
    const config: ContainerConfig = {
      ...(c.user === undefined ? {} : { User: c.user }),
      ...(set(c.exposedPorts) === undefined ? {} : { ExposedPorts: set(c.exposedPorts) }),
      Env: c.env.map(([k, v]) => `${k}=${v}`),
      ...(c.entrypoint === undefined ? {} : { Entrypoint: c.entrypoint }),
      ...(c.cmd === undefined ? {} : { Cmd: c.cmd }),
      ...(set(c.volumes) === undefined ? {} : { Volumes: set(c.volumes) }),
      ...(c.workdir === undefined ? {} : { WorkingDir: `/${c.workdir}` }),
      ...(c.labels.size === 0 ? {} : { Labels: Object.fromEntries(c.labels) }),
      ...(c.stopSignal === undefined ? {} : { StopSignal: c.stopSignal }),
      ...(c.healthcheck === undefined ? {} : { Healthcheck: c.healthcheck }),
      ...(c.shell === undefined ? {} : { Shell: c.shell }),
      ...(c.onBuild.length === 0 ? {} : { OnBuild: c.onBuild }),
      ...(c.argsEscaped ? { ArgsEscaped: true } : {}),
    };
    return {
      architecture: this.platform.architecture,
      os: this.platform.os,
      ...(this.platform.variant === undefined ? {} : { variant: this.platform.variant }),
      created: this.created(),
      ...(c.author === undefined ? {} : { author: c.author }),
      config,
      rootfs: { type: 'layers', diff_ids: s.layers.map((l) => l.diffId) },
      history: s.history,
    };
  }

  /** Run one step with progress events; errors get the instruction's location. */
  private async step(name: string, fn: () => Promise<void>, at: { range: Range }): Promise<void> {
    if (this.opts.signal?.aborted) throw new KeelError('E_ABORTED', 'build aborted');
    const step = ++this.stepCount;
    const t0 = process.hrtime.bigint();
    this.stepOutcome = { cached: false };
    this.opts.onProgress?.({ type: 'step-start', step, name });
    try {
      await fn();
    } catch (e) {
      // whatever a step was doing when the build was aborted (an extraction, a pipeline) reports the abort
      const aborted = this.opts.signal?.aborted === true && !isKeelError(e, 'E_ABORTED');
      const err = this.locate(aborted ? new KeelError('E_ABORTED', 'build aborted', { cause: e }) : e, at);
      this.opts.onProgress?.({ type: 'step-error', step, name, message: err.message });
      throw err;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const { cached, reason } = this.stepOutcome;
    this.steps.push({ name, cached, seconds });
    this.opts.onProgress?.({ type: 'step-done', step, name, seconds, cached, ...(reason === undefined ? {} : { reason }) });
  }

  private at<T>(node: { range: Range }, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.locate(e, node);
    }
  }

  private locate(e: unknown, node: { range: Range }): Error {
    if (e instanceof DockerfileError) return e;
    if (isKeelError(e)) return new DockerfileError(e, node.range, this.filename);
    return e instanceof Error ? e : new Error(String(e));
  }
}

/** A body as a stream (apply-tar reads archives as streams). */
function toStream(body: Readable | Buffer | Promise<Buffer>): Readable {
  if (body instanceof Promise) return Readable.from((async function* () { yield await body; })());
  return Buffer.isBuffer(body) ? Readable.from([body]) : body;
}

function assertNever(x: never): never {
  throw new KeelError('E_INTERNAL', `unhandled instruction ${JSON.stringify(x)}`);
}

/** `paths` and every folder above them, sorted. */
function withParents(paths: readonly string[]): string[] {
  const all = new Set<string>();
  for (const p of paths) for (let q = p; q !== '' && !all.has(q); q = parentOf(q)) all.add(q);
  return [...all].sort();
}

/**
 * The layer entries for `paths` (sorted) of a tree. Files that share a body (a hard-linked file in
 * the context, or a hard link in an extracted archive) are written once and then as hard links to
 * the first path, as containerd's ChangeWriter keeps hard links within a layer.
 */
function layerEntries(paths: readonly string[], fs: StageFs): LayerEntry[] {
  const firstPathOf = new Map<string, string>();
  return paths.map((path): LayerEntry => {
    const node = fs.get(path);
    if (node === undefined) return { type: 'whiteout', path }; // deleted (by a RUN)
    const base = { path, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime };
    switch (node.type) {
      case 'directory':
        return { ...base, type: 'directory' };
      case 'symlink':
        return { ...base, type: 'symlink', target: node.target };
      case 'file': {
        const identity = node.source.kind === 'host' ? `host:${node.source.fingerprint}` : undefined;
        const first = identity === undefined ? undefined : firstPathOf.get(identity);
        if (first !== undefined) return { ...base, type: 'hardlink', target: first };
        if (identity !== undefined) firstPathOf.set(identity, path);
        return { ...base, type: 'file', size: node.size, content: () => openSource(node.source, node.size) };
      }
    }
  });
}
