/**
 * CDI devices for `RUN --device` (allowed by the `device` entitlement), as BuildKit injects them
 * (solver/llbsolver/cdidevices): Container Device Interface specs are read from the spec folders
 * (`/etc/cdi`, `/var/run/cdi`, buildkitd's defaults), and a device named `vendor.com/class=name`
 * (`=*`: every device of the kind; the kind alone: its first) adds its container edits to the RUN:
 * device nodes (with a device cgroup rule for each), environment variables and bind mounts. A
 * device that is not registered fails the RUN if `required`, else the RUN runs without it (with a
 * warning), as BuildKit's. keel reads JSON specs (`*.json`); YAML specs and hooks are not supported.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError } from '../errors.js';

export const DEFAULT_CDI_DIRS: readonly string[] = ['/etc/cdi', '/var/run/cdi'];

export interface CdiDeviceNode {
  readonly path: string;
  readonly type: 'c' | 'b';
  readonly major: number;
  readonly minor: number;
  readonly fileMode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly permissions: string;
}

/** What devices add to a RUN's spec. */
export interface CdiEdits {
  readonly env: readonly string[];
  readonly deviceNodes: readonly CdiDeviceNode[];
  readonly mounts: ReadonlyArray<{ readonly hostPath: string; readonly containerPath: string; readonly options: readonly string[] }>;
}

interface RawEdits {
  env?: unknown;
  deviceNodes?: unknown;
  mounts?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The registered devices by qualified name (`vendor.com/class=name`), each with its spec's common edits first. */
export type CdiRegistry = ReadonlyMap<string, readonly RawEdits[]>;

export async function readCdiSpecs(dirs: readonly string[]): Promise<CdiRegistry> {
  const devices = new Map<string, RawEdits[]>();
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      let spec: unknown;
      try {
        spec = JSON.parse(await readFile(join(dir, name), 'utf8'));
      } catch (e) {
        throw new KeelError('E_BUILD_INPUT', `the CDI spec ${join(dir, name)} is not JSON: ${(e as Error).message}`, { cause: e });
      }
      if (!isObject(spec) || typeof spec.kind !== 'string' || !/^[a-z0-9.-]+\/[a-zA-Z0-9._-]+$/.test(spec.kind) || !Array.isArray(spec.devices)) {
        throw new KeelError('E_BUILD_INPUT', `the CDI spec ${join(dir, name)} has no kind (vendor.com/class) and devices`);
      }
      const common = isObject(spec.containerEdits) ? [spec.containerEdits as RawEdits] : [];
      for (const d of spec.devices) {
        if (!isObject(d) || typeof d.name !== 'string') continue;
        const own = isObject(d.containerEdits) ? [d.containerEdits as RawEdits] : [];
        devices.set(`${spec.kind}=${d.name}`, [...common, ...own]); // a later folder's spec wins, as CDI's registry
      }
    }
  }
  return devices;
}

/** The registered names a request means (BuildKit's parseDevice, without class annotations). */
export function matchDevices(request: string, registered: readonly string[]): string[] {
  const [kind, name] = request.includes('=') ? [request.slice(0, request.indexOf('=')), request.slice(request.indexOf('=') + 1)] : [request, ''];
  const ofKind = registered.filter((d) => d.startsWith(`${kind}=`));
  if (name === '') return ofKind.slice(0, 1);
  if (name === '*') return ofKind;
  return registered.filter((d) => d === request);
}

/** The device number of a node on this machine (Linux's encoding of st_rdev). */
function deviceNumbers(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  return { major: Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn)), minor: Number((r & 0xffn) | ((r >> 12n) & ~0xffn)) };
}

async function deviceNode(raw: unknown): Promise<CdiDeviceNode> {
  if (!isObject(raw) || typeof raw.path !== 'string') throw new KeelError('E_BUILD_INPUT', 'a CDI device node has no path');
  const permissions = typeof raw.permissions === 'string' && /^[rwm]+$/.test(raw.permissions) ? raw.permissions : 'rwm';
  const own = { ...(typeof raw.fileMode === 'number' ? { fileMode: raw.fileMode } : {}), ...(typeof raw.uid === 'number' ? { uid: raw.uid } : {}), ...(typeof raw.gid === 'number' ? { gid: raw.gid } : {}) };
  if ((raw.type === 'c' || raw.type === 'b') && typeof raw.major === 'number' && typeof raw.minor === 'number') {
    return { path: raw.path, type: raw.type, major: raw.major, minor: raw.minor, permissions, ...own };
  }
  // the numbers of the host's node (hostPath, else path), as CDI fills them in
  const host = typeof raw.hostPath === 'string' ? raw.hostPath : raw.path;
  const st = await stat(host).catch(() => undefined);
  if (st === undefined || !(st.isCharacterDevice() || st.isBlockDevice())) throw new KeelError('E_BUILD_INPUT', `CDI device node ${host} is not a device on this machine`);
  return { path: raw.path, type: st.isBlockDevice() ? 'b' : 'c', ...deviceNumbers(st.rdev), permissions, ...own };
}

/**
 * The edits of the requested devices; `warn` hears of an optional device that is not registered.
 * A required one that is not is E_BUILD_INPUT (BuildKit: "required device … is not registered").
 */
export async function cdiEdits(requests: ReadonlyArray<{ readonly name: string; readonly required: boolean }>, registered: CdiRegistry, warn: (message: string) => void): Promise<CdiEdits> {
  const env: string[] = [];
  const deviceNodes: CdiDeviceNode[] = [];
  const mounts: Array<CdiEdits['mounts'][number]> = [];
  const names = [...registered.keys()];
  const chosen = new Set<string>();
  for (const r of requests) {
    const found = matchDevices(r.name, names);
    if (found.length === 0) {
      if (r.required) throw new KeelError('E_BUILD_INPUT', `required device ${JSON.stringify(r.name)} is not registered (CDI specs in ${DEFAULT_CDI_DIRS.join(', ')} or the cdiSpecDirs option)`);
      warn(`optional device ${JSON.stringify(r.name)} is not registered: RUN runs without it`);
    }
    for (const f of found) chosen.add(f);
  }
  for (const name of chosen) {
    for (const edits of registered.get(name) ?? []) {
      env.push(...strings(edits.env).filter((e) => e.includes('=')));
      for (const n of Array.isArray(edits.deviceNodes) ? edits.deviceNodes : []) deviceNodes.push(await deviceNode(n));
      for (const m of Array.isArray(edits.mounts) ? edits.mounts : []) {
        if (!isObject(m) || typeof m.hostPath !== 'string' || typeof m.containerPath !== 'string') throw new KeelError('E_BUILD_INPUT', `a CDI mount of ${name} has no hostPath or containerPath`);
        mounts.push({ hostPath: m.hostPath, containerPath: m.containerPath, options: strings(m.options) });
      }
    }
  }
  return { env, deviceNodes, mounts };
}
