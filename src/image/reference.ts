/**
 * Image references, the one parser keel has (distribution/reference, reference.go and
 * normalize.go): `name`, `name:tag`, `name@sha256:...`, `host[:port]/path/name[:tag][@digest]`,
 * with `[::1]:5000` for IPv6 hosts. A first component with a `.` or a `:`, or `localhost`, is a
 * registry; otherwise the registry is Docker Hub, whose one-part names live under `library/`.
 * Domain components are letters, digits and inner hyphens (`-bad-.io` is refused). Registries on
 * loopback (and those named insecure) are spoken to over plain HTTP. `parseTag` is the same
 * parser for names given with `-t` (no digest).
 */
import { KeelError } from '../errors.js';
import { isDigest, type Digest } from './digest.js';

export interface Reference {
  /** As the user wrote it (for messages). */
  readonly original: string;
  /** `docker.io`, `ghcr.io`, `127.0.0.1:5000`. */
  readonly registry: string;
  /** `library/node`, `org/app`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

export const DOCKER_HUB = 'docker.io';

export function parseReference(ref: string): Reference {
  const bad = (why: string): never => {
    throw new KeelError('E_REFERENCE', `invalid reference format ${JSON.stringify(ref)}: ${why}`);
  };
  if (ref === '' || ref.length > 4096) bad('empty or too long');
  if (ref.trim() !== ref) bad('white space around the name');
  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) bad('a digest is sha256: and 64 lower-case hex digits');
    digest = d as Digest;
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) bad('a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with . or -');
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  const hasRegistry = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  if (hasRegistry && !DOMAIN.test(first)) bad(`bad registry ${JSON.stringify(first)}`);
  const path = hasRegistry ? parts.slice(1) : parts;
  if (path.length === 0 || !path.every((c) => COMPONENT.test(c))) {
    bad('repository names are lower-case letters, digits and separators (. _ __ -), in /-separated parts');
  }
  let registry = hasRegistry ? first : DOCKER_HUB;
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  const repository = registry === DOCKER_HUB && path.length === 1 ? `library/${path[0] as string}` : path.join('/');
  return {
    original: ref,
    registry,
    repository,
    ...(tag === undefined && digest === undefined ? { tag: 'latest' } : tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** `registry/repository[:tag][@digest]`, fully qualified. */
export function formatReference(r: Reference): string {
  return `${r.registry}/${r.repository}${r.tag === undefined ? '' : `:${r.tag}`}${r.digest === undefined ? '' : `@${r.digest}`}`;
}

/** The host the API is on (Docker Hub's is registry-1.docker.io). */
export const apiHost = (registry: string): string => (registry === DOCKER_HUB ? 'registry-1.docker.io' : registry);

/** Plain HTTP for loopback registries and those the user names insecure; HTTPS otherwise. */
export function schemeFor(registry: string, insecure: readonly string[] = []): 'http' | 'https' {
  const host = registry.replace(/:[0-9]+$/, '').replace(/^\[|\]$/g, '');
  // by the address, never a prefix: 127.evil.example is a name like any other (HTTPS)
  const loopback = host === 'localhost' || /^127(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$/.test(host) || host === '::1';
  return loopback || insecure.includes(registry) || insecure.includes(host) ? 'http' : 'https';
}

export interface TagReference {
  /** As Docker shows it: `app:1`, `ghcr.io/org/app:1` (the name as given, with its tag). */
  readonly familiar: string;
  /** Fully qualified: `docker.io/library/app:1`. */
  readonly full: string;
  readonly tag: string;
}

/** A name to give a built image (`-t`): a reference with no digest; the tag defaults to `latest`. */
export function parseTag(ref: string): TagReference {
  let r: Reference;
  try {
    r = parseReference(ref);
  } catch (e) {
    throw new KeelError('E_REFERENCE', `invalid tag ${JSON.stringify(ref)}: ${(e as Error).message.replace(/^invalid reference format "[^"]*": /, '')}`);
  }
  if (r.digest !== undefined) throw new KeelError('E_REFERENCE', `invalid tag ${JSON.stringify(ref)}: a digest cannot be used as a tag`);
  const tag = r.tag ?? 'latest';
  const slash = ref.lastIndexOf('/');
  const name = ref.lastIndexOf(':') > slash ? ref.slice(0, ref.lastIndexOf(':')) : ref;
  return { familiar: `${name}:${tag}`, full: `${r.registry}/${r.repository}:${tag}`, tag };
}
