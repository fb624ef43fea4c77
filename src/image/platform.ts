/**
 * Platforms as `os/arch[/variant]` (the config's and an index's `platform`). Normalising names as
 * containerd's platforms package does is the platforms issue's; here: parse, print, the host's.
 */
import { KeelError } from '../errors.js';
import type { Platform } from './image.js';

/** linux and this machine's architecture (Node's `process.arch`, read by the caller). */
export function hostPlatform(arch: string): Platform {
  return { os: 'linux', architecture: arch === 'arm64' ? 'arm64' : 'amd64' };
}

export function parsePlatform(spec: string): Platform {
  const [os, architecture, variant] = spec.split('/');
  if (os === undefined || os === '' || architecture === undefined || architecture === '') {
    throw new KeelError('E_BUILD_INPUT', `invalid platform ${JSON.stringify(spec)}: want os/arch[/variant]`);
  }
  return { os, architecture, ...(variant === undefined ? {} : { variant }) };
}

export const platformString = (p: Platform): string => `${p.os}/${p.architecture}${p.variant === undefined ? '' : `/${p.variant}`}`;
