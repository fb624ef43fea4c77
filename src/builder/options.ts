/**
 * What build() takes and gives: the library's documented options and result (SPEC.md section 1).
 */
import type { Entitlement } from './entitlements.js';
import type { Compression, BuiltImage, BuiltIndex, Digest } from '../image/index.js';
import type { Readable } from 'node:stream';
import type { BuildOutput } from '../output/index.js';
import type { AuthOption, ProxySettings, PullPolicy } from '../registry/index.js';
import type { Runtime, RuntimeName } from '../runtime/index.js';
import type { Snapshotter } from '../snapshot/index.js';
import type { BuildEvent } from './progress.js';
import type { Finding } from '../checks/index.js';
import type { CacheExport, CacheImport } from './remote-cache.js';

export type { CacheExport, CacheImport };

export type { BuildOutput };

/**
 * A named context (`--build-context name=...`): what `FROM name`, `COPY --from=name` and
 * `RUN --mount=from=name` read instead of a stage or image of that name. A folder (read as the
 * context is, for COPY --from and mounts), an image from its registry, or an OCI layout folder
 * (the manifest tagged `tag`, else its only one).
 */
export type NamedContext =
  | { readonly path: string }
  | { readonly image: string }
  | { readonly ociLayout: string; readonly tag?: string };

export interface BuildOptions {
  /**
   * The build context: a folder, or a stream as `docker build -` reads stdin (a tar of the context,
   * plain or compressed; or a Dockerfile's text, with an empty context).
   */
  readonly context: string | { readonly stream: Readable };
  /** A path relative to the context (or absolute), or the text itself. @default 'Dockerfile' */
  readonly dockerfile?: string | { readonly text: string };
  /** Names to give the image in the output (`app:1`). */
  readonly tags?: readonly string[];
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** The stage to build. @default the last stage */
  readonly target?: string;
  /** @default $KEEL_CACHE_DIR, else $XDG_CACHE_HOME/keel, else ~/.cache/keel */
  readonly cacheDir?: string;
  /**
   * The most bytes the cache folder may keep: after a build (at most once a minute, and never while
   * another build uses the cache) the least recently used is removed until the rest fits. `false`:
   * no limit. @default $KEEL_CACHE_MAX_SIZE, else 10% of its file system, at least 2 GB (BuildKit's)
   */
  readonly cacheMaxSize?: number | false;
  /** Do not use cached steps (results are still stored for the next build). */
  readonly noCache?: boolean;
  /**
   * Where to write the image (one output, or several written in turn); without it the image is
   * only built (its blobs stay in the cache). Paths are checked before the build starts.
   */
  readonly output?: BuildOutput | readonly BuildOutput[];
  readonly onProgress?: (event: BuildEvent) => void;
  readonly signal?: AbortSignal;
  /**
   * The platform to build for, `os/arch[/variant]` (`arm64`, `linux/arm/v7`; spelled as containerd
   * reads them), or a comma list as `--platform` takes. @default linux and the host's architecture
   */
  readonly platform?: string;
  /**
   * Several platforms: each stage that depends on the platform is built once for each (a RUN for a
   * platform the host cannot run goes through a QEMU emulator registered in binfmt_misc), and the
   * result is an OCI image index with one image per platform. Not with `platform`.
   */
  readonly platforms?: readonly string[];
  /** 'normalize' (default): layer mtimes become SOURCE_DATE_EPOCH-clamped or 1980-01-01; 'preserve': source mtimes. */
  readonly timestamps?: 'normalize' | 'preserve';
  /** Seconds since the epoch (also taken from a SOURCE_DATE_EPOCH build arg). */
  readonly sourceDateEpoch?: number;
  /** @default 'gzip' */
  readonly compression?: Compression;
  /** gzip 0-9 or zstd 1-22 (buildx's `compression-level=`). @default each one's default (gzip 6, zstd 3) */
  readonly compressionLevel?: number;
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
  /**
   * The proxy for registries and ADD URLs: `httpsProxy` for https, `httpProxy` for http, `noProxy`'s
   * hosts direct (loopback always is). @default HTTP_PROXY, HTTPS_PROXY, NO_PROXY (or lower case) of the environment
   */
  readonly proxy?: ProxySettings;
  /** Where Docker's config.json is. @default ~/.docker */
  readonly dockerConfigDir?: string;
  /** Push: blobs up to this size go up in one request, larger ones in chunks of it. @default 16 MiB */
  readonly uploadChunkSize?: number;
  /** For RUN --mount=type=secret,id=ID: a file to read, or the value itself. Never in a layer or a cache key. */
  readonly secrets?: Readonly<Record<string, { readonly path: string } | { readonly value: string }>>;
  /**
   * The most bytes one ADD archive or one layer may unpack to (past 256 MiB, an archive may also
   * unpack to at most 2000 times its size). @default 64 GiB
   */
  readonly maxUnpackBytes?: number;
  /**
   * Export this build's step cache (`--cache-to`): to a registry (`{ type: 'registry', ref }`) or an OCI
   * layout folder (`{ type: 'local', dest }`); `mode` 'min' (default: the final image's steps) or 'max'
   * (every stage's). A failed export is a warning in the result, not a failed build.
   */
  readonly cacheTo?: CacheExport | readonly CacheExport[];
  /** Steps another machine exported (`--cache-from`), read lazily: a layer is fetched only when read. */
  readonly cacheFrom?: CacheImport | readonly CacheImport[];
  /** Named contexts by name (`--build-context`), replacing stages and images of that name. */
  readonly namedContexts?: Readonly<Record<string, NamedContext>>;
  /** Labels set on the image after the Dockerfile's own (`--label`): a key here wins over a LABEL. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Annotations on the image manifest (`--annotation`), beside keel's base-image ones. */
  readonly annotations?: Readonly<Record<string, string>>;
  /**
   * BuildKit's build checks for this build (`skip=A,B;experimental=C;error=true`, as the
   * BUILDKIT_DOCKERFILE_CHECK build arg): replaces the Dockerfile's `# check=` directive. With
   * `error=true` a finding fails the build (E_CHECK); otherwise findings are warnings.
   */
  readonly checks?: string;
  /**
   * The network of a RUN that does not name one (`RUN --network=`): 'default' (a network namespace
   * of its own with outbound access through slirp4netns, the host's loopback out of reach), 'none'
   * (loopback only) or 'host' (the host's; needs `allow: ['network.host']`). A RUN's own
   * `--network=` wins (`host` needing the allow too); `--network=default` means this. @default 'default'
   */
  readonly network?: 'default' | 'host' | 'none';
  /**
   * What RUN may take beyond its sandbox (`--allow`), as BuildKit's entitlements: 'network.host'
   * (the host's network), 'security.insecure' (`RUN --security=insecure`: every capability, no
   * seccomp), 'device' (`RUN --device`). A Dockerfile asking without it fails with E_ENTITLEMENT.
   * @default none
   */
  readonly allow?: readonly Entitlement[];
  /** Where CDI specs (JSON) for `RUN --device` are read. @default ['/etc/cdi', '/var/run/cdi'] */
  readonly cdiSpecDirs?: readonly string[];
  /** Lines added to every RUN's /etc/hosts (`--add-host NAME:IP`), in order. */
  readonly extraHosts?: ReadonlyArray<{ readonly host: string; readonly ip: string }>;
  /**
   * The OCI runtime for RUN: 'runc' or 'crun' (by their command line), or a Runtime object of the
   * caller's (runtime/runtime.ts: run a bundle, list, remove), as BuildKit's executor interface
   * keeps the exec op from naming a runtime. @default the first of runc, crun found on PATH
   */
  readonly runtime?: RuntimeName | Runtime;
  /**
   * What every RUN's files are prepared on, committed by and read back from (snapshot/snapshotter.ts:
   * prepare a writable snapshot on the stage's chain, read the change, commit it), a test's or an
   * embedder's, as BuildKit takes containerd's snapshotter. @default overlayfs over layer folders
   * in the cache where it mounts and a stage has at most 50 layers, else a written-out copy
   */
  readonly snapshotter?: Snapshotter;
  /**
   * How many steps run at once. Stages that do not depend on each other are built at the same
   * time, as BuildKit's solver does; this bounds how many of their steps run together (1 builds
   * one step after another). @default no limit, as BuildKit's (buildkitd's max-parallelism is unset
   * by default): a RUN that waits on the network or sleeps holds no CPU
   */
  readonly maxParallelism?: number;
}

export interface BuildResult {
  /** What the image's names point at: its manifest, or with several platforms their index. */
  readonly manifestDigest: Digest;
  /** The config of the image (of the first platform's, with several). */
  readonly configDigest: Digest;
  readonly layers: ReadonlyArray<{ readonly digest: Digest; readonly diffId: Digest; readonly size: number; readonly cached: boolean }>;
  readonly tags: readonly string[];
  readonly steps: ReadonlyArray<{ readonly name: string; readonly cached: boolean; readonly seconds: number }>;
  /** The image (the first platform's, with several). */
  readonly image: BuiltImage;
  /** With several platforms: the index of their images (`index.images`, in the order asked). */
  readonly index?: BuiltIndex;
  /** With `output: { type: 'registry' }`: each tag pushed, with the manifest digest the registry holds. */
  readonly pushed?: ReadonlyArray<{ readonly reference: string; readonly digest: Digest }>;
  /** What went wrong without failing the build (a cache that could not be imported or exported). */
  readonly warnings: readonly string[];
  /** BuildKit's build checks' findings for the stages built (FromAsCasing, UndefinedVar...), as `warning` events gave them. */
  readonly findings: readonly Finding[];
  /** Build args no ARG of the built stages declared (the proxy variables and BUILDKIT_* never count). */
  readonly unusedBuildArgs: readonly string[];
  /** With `output: { type: 'docker' }`: what the daemon said it loaded (`Loaded image: app:1`). */
  readonly loaded?: readonly string[];
}

