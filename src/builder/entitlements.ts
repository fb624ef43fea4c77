/**
 * Entitlements: what escapes RUN's sandbox needs the user's explicit allow (`--allow`, library
 * `allow`), never the Dockerfile's say alone, as BuildKit's util/entitlements: `network.host` for
 * the host's network (`RUN --network=host` or the build's `network: 'host'`), `security.insecure`
 * for `RUN --security=insecure`, `device` for `RUN --device`. A Dockerfile that asks without the
 * allow fails before the RUN with E_ENTITLEMENT, naming the flag (BuildKit's words: "network.host
 * is not allowed").
 */
import { KeelError } from '../errors.js';
import type { Instruction, NetworkMode } from '../parser/index.js';

export const ENTITLEMENTS = ['network.host', 'security.insecure', 'device'] as const;
export type Entitlement = (typeof ENTITLEMENTS)[number];

export function isEntitlement(s: string): s is Entitlement {
  return (ENTITLEMENTS as readonly string[]).includes(s);
}

/** The network a RUN gets: its own `--network=` wins over the build's, and the host's needs network.host. */
export function runNetwork(written: NetworkMode, build: 'default' | 'host' | 'none' | undefined, allow: ReadonlySet<Entitlement>): 'sandbox' | 'host' | 'none' {
  const mode = written === 'default' ? build ?? 'default' : written;
  if (mode === 'host' && !allow.has('network.host')) {
    const by = written === 'host' ? 'RUN --network=host' : 'the build\'s --network host';
    throw new KeelError('E_ENTITLEMENT', `${by} needs the host's network: network.host is not allowed (pass --allow network.host)`);
  }
  return mode === 'default' ? 'sandbox' : mode;
}

/** RUN --security=insecure: only with security.insecure. */
export function runSecurity(written: 'sandbox' | 'insecure', allow: ReadonlySet<Entitlement>): 'sandbox' | 'insecure' {
  if (written === 'insecure' && !allow.has('security.insecure')) {
    throw new KeelError('E_ENTITLEMENT', 'RUN --security=insecure: security.insecure is not allowed (pass --allow security.insecure)');
  }
  return written;
}

/** RUN --device (CDI device names, runtime/cdi.ts): only with device. */
export function runDevices(names: readonly string[], allow: ReadonlySet<Entitlement>): void {
  if (names.length === 0 || allow.has('device')) return;
  const what = names.length === 1 ? `device ${names[0] as string} is` : `devices ${names.join(', ')} are`;
  throw new KeelError('E_ENTITLEMENT', `RUN --device: ${what} requested by the build but not allowed (pass --allow device)`);
}

/** All of a RUN's asks against the build's allow (E_ENTITLEMENT, else nothing). */
export function checkEntitlements(ins: Extract<Instruction, { kind: 'RUN' }>, opts: { readonly network?: 'default' | 'host' | 'none'; readonly allow?: readonly Entitlement[] }): void {
  const allow = new Set(opts.allow ?? []);
  runNetwork(ins.network, opts.network, allow);
  runSecurity(ins.security, allow);
  runDevices(ins.devices.map((d) => d.name), allow);
}
