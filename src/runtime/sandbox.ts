/**
 * Rootless RUN: keel started inside a user namespace where it is root (`unshare --user
 * --map-root-user --map-auto --mount keel build …`, as `buildah unshare` or rootlesskit give), with
 * the user's /etc/subuid and /etc/subgid ranges mapped, so that image files keep their owners.
 * There the kernel allows overlayfs with `userxattr` (Linux 5.11 and later): overlayfs' own
 * attributes live under `user.overlay.` instead of `trusted.overlay.` (so layer folders are kept
 * apart from root's), runc keeps its state in the cache folder, and /sys is bound from the host
 * (a fresh sysfs needs a network namespace of one's own), as rootless BuildKit does.
 */
import { readFileSync } from 'node:fs';

/** How RUN's sandbox differs between the initial user namespace and a user namespace of keel's user. */
export interface Sandbox {
  readonly userNamespace: boolean;
  /** Prefix of overlayfs' xattrs in layer folders: `trusted.overlay.` or `user.overlay.`. */
  readonly overlayXattr: 'trusted.overlay.' | 'user.overlay.';
  /** Extra overlay mount options. */
  readonly overlayOptions: readonly string[];
  /** The folder (under the cache) layer folders are kept in. */
  readonly layersFolder: 'layers' | 'layers-userns';
}

export const ROOT_SANDBOX: Sandbox = { userNamespace: false, overlayXattr: 'trusted.overlay.', overlayOptions: [], layersFolder: 'layers' };
export const USERNS_SANDBOX: Sandbox = { userNamespace: true, overlayXattr: 'user.overlay.', overlayOptions: ['userxattr'], layersFolder: 'layers-userns' };

/** The sandbox this process runs RUN in, from /proc/self/uid_map (read by build() once, at its start). */
export function detectSandbox(): Sandbox {
  return inUserNamespace() ? USERNS_SANDBOX : ROOT_SANDBOX;
}

/** Whether this process is in a user namespace other than the initial one (whose map is the whole id range). */
function inUserNamespace(): boolean {
  try {
    const lines = readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    const whole = lines.length === 1 && lines[0]?.[0] === 0 && lines[0]?.[1] === 0 && lines[0]?.[2] === 4294967295;
    return !whole;
  } catch {
    return false;
  }
}
