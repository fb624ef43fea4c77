/**
 * COPY and ADD: sources from the context (after .dockerignore), an earlier stage or an image
 * (`--from`), heredocs, and for ADD local archives (extracted) and URLs (downloaded), copied into
 * the stage's tree as BuildKit does (copy.ts); the written paths become one content layer.
 */
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { KeelError } from '../../errors.js';
import { canonicalJson, sha256 } from '../../image/index.js';
import { chompHeredocContent, expandWord, type Instruction } from '../../parser/index.js';
import { applyTar, cleanPath, openSource, sniffArchive, StageFs, type Compression, type FsNode } from '../../tree/index.js';
import { copyInto, destination, selectSources, type Owner } from '../copy.js';
import { download, isRemote, redactUrl } from '../download.js';
import { hasGoWildcard } from '../go-match.js';
import { cachedResult, contentLayer, inputKey } from '../layers.js';
import { historyEntry } from '../stage.js';
import type { StepContext, StepResult } from '../step-context.js';
import { resolveOwner } from '../users.js';

type CopyInstruction = Extract<Instruction, { kind: 'COPY' | 'ADD' }>;

export function parseChmod(spec: string): number {
  if (/^[0-7]+$/.test(spec) && parseInt(spec, 8) <= 0o7777) return parseInt(spec, 8);
  throw new KeelError('E_UNSUPPORTED', `invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`);
}

export async function copyStep(ins: CopyInstruction, ctx: StepContext): Promise<StepResult> {
  const { word, stage } = ctx;
  const from = ins.kind === 'COPY' ? ins.from : undefined;
  const fromStage = from === undefined ? undefined : await ctx.stageOrImage(from, true);
  // the context read by this step (the first to need it) shows as BuildKit's context transfer
  const source = fromStage === undefined ? (await ctx.sources.buildContext((_files, bytes) => {
    ctx.emit({ type: 'step-progress', step: ctx.step, id: 'transferring context', current: bytes, total: bytes, done: true });
  })).fs : undefined;
  const all = ins.sources.filter((x) => x.kind === 'path').map((x) => word(x.path.value));
  const urls = ins.kind === 'ADD' ? all.filter(isRemote) : [];
  const paths = all.filter((p) => !urls.includes(p));
  if (ins.kind === 'ADD' && ins.checksum !== undefined && (urls.length !== 1 || paths.length > 0)) {
    throw new KeelError('E_BUILD_INPUT', 'checksum requires exactly one HTTP(S) source');
  }
  const dest = word(ins.dest.value);
  const chown = ins.chown === undefined ? undefined : word(ins.chown);
  const chmod = ins.chmod === undefined ? undefined : parseChmod(word(ins.chmod));
  const heredocs = ins.sources.filter((x) => x.kind === 'heredoc');
  const heredocText = heredocs.map((h) => {
    const data = h.heredoc.chomp ? chompHeredocContent(h.heredoc.content) : h.heredoc.content;
    return { name: h.heredoc.name, data: h.heredoc.expand ? expandWord(data, stage.vars, { escape: '\\', skipProcessQuotes: true }) : data };
  });
  const text = `${ins.kind}${historyFlags(ins, chown)} ${[...paths, ...urls.map(redactUrl), ...heredocs.map((h) => `<<${h.heredoc.name}`)].join(' ')} ${dest}`;
  const history = historyEntry(`${text} # buildkit`, ctx.times.created());

  // found from what it reads, without the stage's tree (a download's content is known only after
  // it; a missing source is the copy's to report)
  // (another stage by its chain key; a folder given as a named context, which has no layers, by
  // the content of what is copied, as the build context)
  const fromFolder = fromStage !== undefined && fromStage.layers.length === 0 && fromStage.tree !== undefined ? fromStage.tree : undefined;
  const read = urls.length > 0 ? undefined
    : fromStage !== undefined && fromFolder === undefined ? fromStage.key
    : await sourcesDigest(ctx, (fromFolder ?? source) as StageFs, ins.kind, paths, ins.kind === 'COPY' && ins.parents);
  const key = read === undefined ? undefined : inputKey(ctx, 'COPY', {
    instruction: ins.kind, paths, dest, chown: chown ?? '', chmod: ins.chmod === undefined ? '' : word(ins.chmod), workdir: stage.cfg.workdir ?? '',
    parents: ins.kind === 'COPY' && ins.parents, exclude: ins.exclude, unpack: ins.kind === 'ADD' ? ins.unpack ?? true : false,
    heredocs: heredocText,
    read,
  });
  const known = key === undefined || ctx.noCache ? undefined : await ctx.stepCache.get(key);
  if (known !== undefined) return { ...(await cachedResult(ctx, known)), ...(key === undefined ? {} : { key }), history };

  const sourceTree = source ?? (await ctx.sources.readTree(fromStage as NonNullable<typeof fromStage>));
  const fs = await ctx.sources.treeOf(stage);
  const owner: Owner | undefined = chown === undefined ? undefined : await resolveOwner(chown, fs);
  const workdir = stage.cfg.workdir ?? '';
  const mtime = (m: number): number => ctx.times.mtime(m);
  const createdMtime = ctx.times.createdMtime();
  const ownership = { ...(owner === undefined ? {} : { owner }), ...(chmod === undefined ? {} : { chmod }) };
  const written: string[] = [];

  // heredoc sources become files in a tree of their own, copied like any other source
  if (heredocs.length > 0) {
    const docs = new StageFs();
    for (const h of heredocText) {
      const bytes = Buffer.from(h.data);
      docs.set(h.name, { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: createdMtime, size: bytes.length, source: { kind: 'bytes', data: bytes } });
    }
    written.push(...copyInto(fs, {
      instruction: ins.kind, from: docs, fromContext: true, sources: heredocs.map((h) => h.heredoc.name), dest, workdir,
      ...ownership, exclude: [], mtime, createdMtime,
    }));
  }
  // ADD extracts local archives (recognised by content, as BuildKit's isArchivePath does)
  const archives = ins.kind === 'ADD' && ins.unpack !== false ? await archivesAmong(sourceTree, paths) : new Map<string, Compression>();
  const plain = paths.filter((p) => !archives.has(p));
  if (plain.length > 0) {
    written.push(...copyInto(fs, {
      instruction: ins.kind, from: sourceTree, fromContext: from === undefined, sources: plain, dest, workdir,
      ...ownership, exclude: ins.exclude, mtime, createdMtime, parents: ins.kind === 'COPY' && ins.parents,
    }));
  }
  if (urls.length > 0 && ins.kind === 'ADD') {
    const downloads = new StageFs();
    for (const url of urls) {
      const checksum = ins.checksum === undefined ? undefined : word(ins.checksum);
      const file = await download(url, ctx.blobs, checksum, ctx.fetch, ctx.signal);
      downloads.set(file.name, {
        type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: ctx.opts.timestamps === 'preserve' ? (file.lastModified ?? createdMtime) : createdMtime,
        size: file.size, source: { kind: 'host', path: ctx.blobs.path(file.digest), fingerprint: `blob:${file.digest}` },
      });
    }
    written.push(...copyInto(fs, {
      instruction: 'ADD', from: downloads, fromContext: true, sources: [...downloads.paths()], dest, workdir,
      ...ownership, exclude: [], mtime: (m) => m, createdMtime,
    }));
  }
  for (const [archive, compression] of archives) {
    const node = sourceTree.get(sourceTree.resolve(cleanPath(archive), true)) as Extract<FsNode, { type: 'file' }>;
    const id = node.source.kind === 'bytes' ? sha256(node.source.data).slice(7) : await ctx.hasher.hash(node.source.path, node.source.fingerprint);
    written.push(...await applyTar(fs, toStream(openSource(node.source, node.size)), compression, {
      dest: destination(dest, workdir).path,
      contentDir: join(ctx.cacheDir, 'extract', id),
      whiteouts: false,
      ...(owner === undefined ? {} : { owner }),
      mtime,
      createdMtime,
      limits: ctx.limits,
    }));
  }
  // a RUN later in the stage stacks this layer's folder: made as the layer is written
  const rest = ctx.stagePlan.instructions.slice(ctx.stagePlan.instructions.indexOf(ins) + 1);
  const outcome = await contentLayer(ctx, fs, written, text, { runFollows: rest.some((i) => i.kind === 'RUN'), ...(key === undefined ? {} : { inputKey: key }) });
  return { ...outcome, ...(key === undefined ? {} : { key }), tree: fs, history };
}

/** The flags BuildKit names in a COPY's history (dockerfile2llb dispatchCopy). */
function historyFlags(ins: CopyInstruction, chown: string | undefined): string {
  return `${ins.kind === 'COPY' && ins.parents ? ' --parents' : ''}${chown === undefined ? '' : ` --chown=${chown}`}${ins.chmod === undefined ? '' : ` --chmod=${ins.chmod}`}`;
}

/** The sources (of plain, literal paths) that are tar archives, with their compression. */
async function archivesAmong(source: StageFs, paths: readonly string[]): Promise<Map<string, Compression>> {
  const found = new Map<string, Compression>();
  for (const p of paths) {
    if (hasGoWildcard(cleanPath(p))) continue;
    const head = await source.readHead(source.resolve(cleanPath(p), true), 512);
    const kind = head === undefined ? undefined : sniffArchive(head);
    if (kind !== undefined) found.set(p, kind);
  }
  return found;
}

/** A body as a stream (apply-tree reads archives as streams). */
function toStream(body: Readable | Buffer | Promise<Buffer>): Readable {
  if (body instanceof Promise) return Readable.from((async function* () { yield await body; })());
  return Buffer.isBuffer(body) ? Readable.from([body]) : body;
}

/**
 * What the context sources of a COPY hold, for its input key: each selected path with its type,
 * mode, size, link target and content hash (a folder's whole subtree; the context's owners and
 * times do not reach the layer). Undefined where a source is missing: the copy itself says so.
 */
async function sourcesDigest(ctx: StepContext, context: StageFs, instruction: 'COPY' | 'ADD', paths: readonly string[], parents: boolean): Promise<string | undefined> {
  const rows: unknown[] = [];
  const request = { instruction, from: context, fromContext: true, sources: paths, dest: '/', workdir: '', exclude: [], parents, mtime: (m: number) => m, createdMtime: 0 };
  const row = async (name: string, node: FsNode): Promise<unknown[]> => {
    const hash = node.type !== 'file' ? '' : node.source.kind === 'bytes' ? sha256(node.source.data) : await ctx.hasher.hash(node.source.path, node.source.fingerprint);
    return [name, node.type, node.mode, node.type === 'file' ? node.size : 0, node.type === 'symlink' ? node.target : '', hash, ctx.times.mtime(node.mtime)];
  };
  for (const p of paths) {
    let selected: Array<{ path: string; name: string }>;
    try {
      selected = selectSources(request, p);
    } catch {
      return undefined;
    }
    for (const { path, name } of selected) {
      const node = context.get(path) as FsNode;
      rows.push([p, await row(name, node)]);
      if (node.type === 'directory') for (const d of context.descendants(path)) rows.push([p, await row(d.slice(path.length), context.get(d) as FsNode)]);
    }
  }
  return sha256(canonicalJson(rows));
}
