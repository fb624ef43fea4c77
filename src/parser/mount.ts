/**
 * `RUN --mount=` values, as BuildKit's instructions/commands_runmount.go reads them. At parse
 * time only the CSV and `from=` are checked (checkMountFlag); the builder calls parseMount with
 * an expander once the stage's variables are known.
 */
import { KeelError } from '../errors.js';
import type { MountType } from './ast.js';
import { goQuote, withSuggestion } from './go-text.js';

export type MountSharing = 'shared' | 'private' | 'locked';

export interface Mount {
  readonly type: MountType;
  readonly from?: string;
  readonly source?: string;
  readonly target?: string;
  readonly readOnly: boolean;
  /** tmpfs size in bytes. */
  readonly sizeLimit?: number;
  readonly cacheId?: string;
  readonly sharing?: MountSharing;
  readonly required: boolean;
  /** secret: the environment variable to expose it as. */
  readonly env?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** A RUN --mount value that BuildKit would refuse (E_FLAG). */
export class MountError extends KeelError {
  override name = 'MountError';
  constructor(message: string) {
    super('E_FLAG', message);
  }
}

const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: readonly MountSharing[] = ['shared', 'private', 'locked'];
const ALL_KEYS = [
  'type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid',
  'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env',
];

/** The parse-time check BuildKit makes: the CSV reads, and `from=` has no variable. */
export function checkMountFlag(value: string): void {
  for (const field of csvFields(value, 'mounts')) {
    const eq = field.indexOf('=');
    if (eq < 0) continue;
    if (field.slice(0, eq).toLowerCase() !== 'from') continue;
    const v = field.slice(eq + 1);
    const idx = v.indexOf('$');
    if (idx !== -1 && idx !== v.length - 1) {
      throw new MountError("'from' doesn't support variable expansion, define alias stage instead");
    }
  }
}

/** BuildKit parseMount with an expander: the full mount, every key and value checked. */
export function parseMount(value: string, expand: (word: string) => string): Mount {
  let type: MountType = 'bind';
  let from: string | undefined;
  let source: string | undefined;
  let target: string | undefined;
  let readOnly = false;
  let roAuto = true;
  let sizeLimit: number | undefined;
  let cacheId: string | undefined;
  let sharing: MountSharing | undefined;
  let required = false;
  let env: string | undefined;
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;

  for (const field of csvFields(value, 'mounts')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const notForType = (): MountError => new MountError(`unexpected key '${key}' for mount type '${type}'`);
    if (eq < 0) {
      switch (key) {
        case 'readonly': case 'ro': readOnly = true; roAuto = false; continue;
        case 'readwrite': case 'rw': readOnly = false; roAuto = false; continue;
        case 'required':
          if (type === 'secret' || type === 'ssh') { required = true; continue; }
          throw notForType();
        default:
          throw new MountError(`invalid field '${field}' must be a key=value pair`);
      }
    }
    const v = expand(field.slice(eq + 1));
    switch (key) {
      case 'type': type = oneOf(v, MOUNT_TYPES, 'mount type'); break;
      case 'from': from = v; break;
      case 'source': case 'src': source = v; break;
      case 'target': case 'dst': case 'destination': target = v; break;
      case 'readonly': case 'ro': readOnly = goParseBool(key, v); roAuto = false; break;
      case 'readwrite': case 'rw': readOnly = !goParseBool(key, v); roAuto = false; break;
      case 'required':
        if (type !== 'secret' && type !== 'ssh') throw notForType();
        required = goParseBool(key, v);
        break;
      case 'size': {
        if (type !== 'tmpfs') throw notForType();
        const n = ramInBytes(v);
        if (n === undefined) throw new MountError(`invalid value for ${key}: ${v}`);
        sizeLimit = n;
        break;
      }
      case 'id': cacheId = v; break;
      case 'sharing': sharing = oneOf(v, SHARING, 'sharing value'); break;
      case 'mode': mode = parseUint32(v, 8, 'mode'); break;
      case 'uid': uid = parseUint32(v, 10, 'uid'); break;
      case 'gid': gid = parseUint32(v, 10, 'gid'); break;
      case 'env': env = v; break;
      default:
        throw new MountError(withSuggestion(`unexpected key '${key}' in '${field}'`, key, ALL_KEYS, true));
    }
  }

  if (type !== 'secret' && type !== 'ssh' && type !== 'cache') {
    if (mode !== undefined) throw new MountError(`mode not allowed for "${type}" type mounts`);
    if (uid !== undefined) throw new MountError(`uid not allowed for "${type}" type mounts`);
    if (gid !== undefined) throw new MountError(`gid not allowed for "${type}" type mounts`);
  }
  if (roAuto) readOnly = !(type === 'cache' || type === 'tmpfs');
  if (type === 'secret') {
    if (from !== undefined && from !== '') throw new MountError('secret mount should not have a from');
    if (sharing !== undefined) throw new MountError('secret mount should not define sharing');
    if (!source && !target && !cacheId) throw new MountError('invalid secret mount. one of source, target required');
    if (source && cacheId) throw new MountError("both source and id can't be set");
  }
  if (sharing !== undefined && type !== 'cache') throw new MountError(`invalid cache sharing set for ${type} mount`);

  return {
    type, readOnly, required,
    ...(from ? { from } : {}),
    ...(source ? { source } : {}),
    ...(target ? { target } : {}),
    ...(sizeLimit !== undefined ? { sizeLimit } : {}),
    ...(cacheId ? { cacheId } : {}),
    ...(sharing ? { sharing } : {}),
    ...(env !== undefined ? { env } : {}),
    ...(mode !== undefined ? { mode } : {}),
    ...(uid !== undefined ? { uid } : {}),
    ...(gid !== undefined ? { gid } : {}),
  };
}

/** `value` lower-cased when it is one of `allowed`; else BuildKit's "unsupported ..." with a suggestion. */
function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  const v = value.toLowerCase();
  const found = allowed.find((a) => a === v);
  if (found === undefined) throw new MountError(withSuggestion(`unsupported ${what} ${goQuote(value)}`, value, allowed, true));
  return found;
}

/** tonistiigi/go-csvvalue Fields (one CSV record, `""` escapes a quote), with its error texts. */
export function csvFields(line: string, what: 'mounts' | 'devices'): string[] {
  const fail = (col: number, msg: string): never => {
    throw new MountError(`failed to parse csv ${what}: parse error on line 1, column ${col}: ${msg}`);
  };
  let s = line;
  if (s.endsWith('\r\n')) s = s.slice(0, -2);
  else if (s.endsWith('\n')) s = s.slice(0, -1);
  if (s === '') throw new MountError(`failed to parse csv ${what}: EOF`);
  const out: string[] = [];
  const bytePos = (i: number): number => Buffer.byteLength(s.slice(0, i));
  let i = 0;
  for (;;) {
    if (s[i] !== '"') {
      const comma = s.indexOf(',', i);
      const field = comma < 0 ? s.slice(i) : s.slice(i, comma);
      const q = field.indexOf('"');
      if (q >= 0) fail(bytePos(i + q) + 1, 'bare " in non-quoted-field');
      out.push(field);
      if (comma < 0) return out;
      i = comma + 1;
      continue;
    }
    // quoted field
    i++;
    let field = '';
    for (;;) {
      const q = s.indexOf('"', i);
      if (q < 0) fail(bytePos(i) + 1, 'extraneous or missing " in quoted-field');
      field += s.slice(i, q);
      i = q + 1;
      if (s[i] === '"') {
        field += '"';
        i++;
        continue;
      }
      if (s[i] === ',') {
        out.push(field);
        i++;
        break;
      }
      if (i === s.length) {
        out.push(field);
        return out;
      }
      fail(bytePos(i - 1) + 1, 'extraneous or missing " in quoted-field');
    }
  }
}

/** Go strconv.ParseBool. */
export function goParseBool(key: string, v: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new MountError(`invalid value for ${key}: ${v}`);
}

function parseUint32(v: string, base: 8 | 10, what: string): number {
  const ok = base === 8 ? /^[0-7]+$/.test(v) : /^[0-9]+$/.test(v);
  const n = ok ? parseInt(v, base) : NaN;
  if (!ok || n > 0xffffffff) throw new MountError(`invalid value ${v} for ${what}`);
  return n;
}

/** docker/go-units RAMInBytes: `64m`, `1.5GiB`, `1024`; undefined when it does not parse. */
export function ramInBytes(size: string): number | undefined {
  const m = /^([0-9.]+) ?([a-zA-Z]{0,3})$/.exec(size);
  if (m === null) return undefined;
  const num = Number(m[1]);
  if (!Number.isFinite(num) || !/^[0-9]*\.?[0-9]*(e[0-9]+)?$/i.test(m[1] ?? '') || m[1] === '.') return undefined;
  const sfx = (m[2] ?? '').toLowerCase();
  if (sfx === '' || sfx === 'b') return Math.trunc(num);
  const mul = { k: 1, m: 2, g: 3, t: 4, p: 5 }[sfx[0] as 'k'];
  if (mul === undefined) return undefined;
  if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) return undefined;
  return Math.trunc(num * 1024 ** mul);
}
