/**
 * Image names as `docker build -t` takes them: `name[:tag]`, `host[:port]/path/name[:tag]`.
 * Docker Hub names get their `docker.io/` (and `library/`) prefix in the full form.
 */
import { KeelError } from '../errors.js';

export interface TagReference {
  /** As Docker shows it: `app:1`, `ghcr.io/org/app:1`. */
  readonly familiar: string;
  /** Fully qualified: `docker.io/library/app:1`. */
  readonly full: string;
  readonly tag: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|[a-zA-Z0-9-]+)(?::[0-9]+)?$/;

export function parseTag(ref: string): TagReference {
  const bad = (why: string): never => {
    throw new KeelError('E_BUILD_INPUT', `invalid tag ${JSON.stringify(ref)}: ${why}`);
  };
  if (ref.includes('@')) bad('a digest cannot be used as a tag');
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const hasTag = colon > slash;
  const name = hasTag ? ref.slice(0, colon) : ref;
  const tag = hasTag ? ref.slice(colon + 1) : 'latest';
  if (!TAG.test(tag)) bad('the tag must be 1 to 128 of [A-Za-z0-9_.-], not starting with . or -');
  const parts = name.split('/');
  const first = parts[0] ?? '';
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain && !DOMAIN.test(first)) bad(`bad registry ${JSON.stringify(first)}`);
  const path = hasDomain ? parts.slice(1) : parts;
  if (path.length === 0 || !path.every((c) => COMPONENT.test(c))) {
    bad('names are lower-case letters, digits and separators (. _ __ -), in /-separated parts');
  }
  const domain = hasDomain ? first : 'docker.io';
  const repo = !hasDomain && path.length === 1 ? `library/${path[0]}` : path.join('/');
  return { familiar: `${name}:${tag}`, full: `${domain}/${repo}:${tag}`, tag };
}
