/**
 * What a build reads besides the Dockerfile: the context (read once), base images (each from its
 * source, image-sources.ts, loaded once per name and platform however many stages use them), and
 * the trees of layer stacks (made once per stack).
 * Every loader is one promise per key, awaited by all who ask (BuildKit shares identical work
 * across a build the same way), so concurrent stages never load a thing twice.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../cache/index.js';
import { KeelError } from '../errors.js';
import { platformString, storedLayers, type Layer, type Platform } from '../image/index.js';
import type { PullPolicy, RegistryOptions, Transfer } from '../registry/index.js';
import { StageFs, type UnpackLimits } from '../tree/index.js';
import { findBaseImage } from './base-image.js';
import { archiveSource, ociLayoutSource, registrySource, type ImageSource } from './image-sources.js';
import { ignorePatterns, loadContext, type BuildContext } from './context.js';
import { emptyStage, type StageState } from './stage.js';
import { chainKey, savedChainTree, treeWithLayer, type ChainTree } from './tree-deltas.js';
import type { NamedContext } from './options.js';
import type { LayerUnpacker } from './unpack-base.js';

export interface SourcesOptions {
  readonly contextDir: string;
  /** The Dockerfile's path, for `<Dockerfile>.dockerignore`. */
  readonly dockerfilePath?: string;
  readonly blobs: BlobStore;
  readonly cacheDir: string;
  readonly baseImages: Readonly<Record<string, string>>;
  readonly pull?: PullPolicy;
  readonly registry: RegistryOptions;
  /** Resolves once a layer's claimed diffID is its content's (verified-layers.ts). */
  readonly verify: (layer: Layer) => Promise<void>;
  readonly limits: UnpackLimits;
  /** How a pulled base's layers may be unpacked while they download (unpack-base.ts). */
  readonly unpackWhilePulling?: LayerUnpacker;
  /** Named contexts (`--build-context`), by name. */
  readonly namedContexts?: Readonly<Record<string, NamedContext>>;
}

export class Sources {
  private context: Promise<BuildContext> | undefined;
  private ignore: Promise<string[]> | undefined;
  private readonly bases = new Map<string, Promise<StageState>>();
  private readonly trees = new Map<string, Promise<ChainTree>>();

  constructor(private readonly opts: SourcesOptions) {}

  /** The context, read once per build; `onRead` (the first caller's) hears how much it holds once read. */
  buildContext(onRead?: (files: number, bytes: number) => void): Promise<BuildContext> {
    this.context ??= this.ignorePatterns().then(async (p) => {
      const context = await loadContext(this.opts.contextDir, p);
      if (onRead !== undefined) {
        let files = 0;
        let bytes = 0;
        for (const path of context.fs.paths()) {
          const node = context.fs.get(path);
          if (node?.type !== 'file') continue;
          files++;
          bytes += node.size;
        }
        onRead(files, bytes);
      }
      return context;
    });
    return this.context;
  }

  /** The context's .dockerignore patterns (`<Dockerfile>.dockerignore` first), read once. */
  ignorePatterns(): Promise<string[]> {
    this.ignore ??= ignorePatterns(this.opts.contextDir, this.opts.dockerfilePath);
    return this.ignore;
  }

  /**
   * A base image for `platform` as a stage's starting state, from the source its name stands for
   * (image-sources.ts): a named context, an archive given in `baseImages`, else its registry (an
   * index resolved to the platform's image). One load per name and platform serves every stage;
   * `onTransfer` hears the download's bytes (the first caller's).
   */
  baseImage(name: string, platform: Platform, onTransfer?: (t: Transfer) => void): Promise<StageState> {
    const named = this.namedContext(name);
    if (named !== undefined && 'image' in named) return this.baseImage(named.image, platform, onTransfer);
    const path = named === undefined ? findBaseImage(this.opts.baseImages, name) : undefined;
    const key = named !== undefined ? `${'path' in named ? '' : platformString(platform)} named:${name}` : `${platformString(platform)} ${path ?? `registry:${name}`}`;
    let loading = this.bases.get(key);
    if (loading === undefined) {
      loading = named !== undefined && 'path' in named ? this.namedFolder(name, named.path) : this.imageSource(name, named, path).load(platform, onTransfer);
      this.bases.set(key, loading);
    }
    return loading;
  }

  /** The named context `name` stands for, if one does (by its name as given, or as the same image reference). */
  namedContext(name: string): NamedContext | undefined {
    const all = this.opts.namedContexts ?? {};
    const key = findBaseImage(Object.fromEntries(Object.keys(all).map((k) => [k, k])), name)
      ?? Object.keys(all).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? undefined : all[key];
  }

  private imageSource(name: string, named: Extract<NamedContext, { ociLayout: string }> | undefined, archive: string | undefined): ImageSource {
    if (named !== undefined) return ociLayoutSource(named.ociLayout, named.tag, this.opts.blobs);
    if (archive !== undefined) return archiveSource(archive, this.opts.blobs);
    return registrySource(name, {
      store: this.opts.blobs, cacheDir: this.opts.cacheDir, registry: this.opts.registry,
      ...(this.opts.pull === undefined ? {} : { pull: this.opts.pull }),
      ...(this.opts.unpackWhilePulling === undefined ? {} : { unpackWhilePulling: this.opts.unpackWhilePulling }),
    });
  }

  /** A folder given as a named context: its files as a tree to copy or mount from (read as the context is, its own .dockerignore applied); no image. */
  private async namedFolder(name: string, path: string): Promise<StageState> {
    const s = await stat(path).catch(() => undefined);
    if (s?.isDirectory() !== true) throw new KeelError('E_BUILD_INPUT', `the build context ${JSON.stringify(name)} (${path}) is not a folder`);
    const folder = await loadContext(path, await ignorePatterns(path));
    return { ...emptyStage(`named:${name}`), tree: folder.fs };
  }

  /** The stage's tree for a step to change: the stage's own, or a fresh copy of its layers' tree. */
  async treeOf(s: StageState): Promise<StageFs> {
    // a tree made from layers reads their blobs: a pending one's once it is stored
    return s.tree ?? (await this.chainTree(await storedLayers(s.layers))).fs.clone();
  }

  /** The stage's tree to read only (COPY --from, a bind mount's source): never to be changed. */
  async readTree(s: StageState): Promise<StageFs> {
    return s.tree ?? (await this.chainTree(await storedLayers(s.layers))).fs;
  }

  /**
   * The tree of a layer stack: saved whole by an earlier build (a chain topped by a big layer, read
   * lazily), else made from the tree of the stack below it (so stages on one base, or a stage and
   * the stages built on it, apply the shared layers once per build).
   */
  private chainTree(layers: readonly Layer[]): Promise<ChainTree> {
    const chain = chainKey(layers);
    let made = this.trees.get(chain);
    if (made === undefined) {
      this.opts.blobs.prefetch(layers.map((l) => l.digest)); // an imported cache's layers, all at once
      const top = layers.at(-1);
      made = top === undefined ? Promise.resolve({ fs: new StageFs(), bodies: [] }) : this.treeOnTop(layers, top, chain);
      this.trees.set(chain, made);
      made.catch(() => this.trees.delete(chain)); // a failed read is tried again by the next asker
    }
    return made;
  }

  private async treeOnTop(layers: readonly Layer[], top: Layer, chain: string): Promise<ChainTree> {
    const opts = { store: this.opts.blobs, extractDir: join(this.opts.cacheDir, 'extract'), limits: this.opts.limits };
    // a saved tree is named by the diffIDs of the whole chain: every one is checked first
    for (const l of layers) await this.opts.verify(l);
    const saved = await savedChainTree(top, chain, opts);
    if (saved !== undefined) return saved;
    const below = await this.chainTree(layers.slice(0, -1));
    return treeWithLayer(layers.length === 1 ? undefined : below, top, chain, opts);
  }
}
