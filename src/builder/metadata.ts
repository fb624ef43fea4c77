/**
 * The instructions that change only the image config (SPEC.md section 4): ENV, LABEL, EXPOSE,
 * USER, VOLUME, STOPSIGNAL, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER, with
 * BuildKit's config effects and history texts (dockerfile2llb/convert.go dispatch*).
 */
import type { HealthConfig } from '../image/index.js';
import type { CommandLine, Instruction } from '../parser/index.js';
import { expandWord, expandWords } from '../parser/index.js';
import { goQuote } from '../parser/index.js';
import { KeelError } from '../errors.js';

/** The mutable image config of a stage while it is built. */
export interface StageConfig {
  env: Array<[string, string]>;
  labels: Map<string, string>;
  exposedPorts: Set<string>;
  volumes: Set<string>;
  user?: string;
  /** The working directory as a tree path ('' is /); undefined when the image sets none (paths then resolve from /). */
  workdir?: string;
  cmd?: readonly string[];
  entrypoint?: readonly string[];
  cmdSetInStage: boolean;
  shell?: readonly string[];
  stopSignal?: string;
  healthcheck?: HealthConfig;
  onBuild: string[];
  author?: string;
  argsEscaped: boolean;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** Set or replace one variable, keeping the order variables were first set (BuildKit addEnv). */
export function setEnv(env: Array<[string, string]>, key: string, value: string): void {
  const i = env.findIndex(([k]) => k === key);
  if (i >= 0) env[i] = [key, value];
  else env.push([key, value]);
}

const goList = (xs: readonly string[]): string => `[${xs.map(goQuote).join(' ')}]`;

function commandArgs(cfg: StageConfig, command: CommandLine): string[] {
  if (command.form === 'exec') return command.args.map((a) => a.value);
  return [...(cfg.shell ?? DEFAULT_SHELL), command.script];
}

/** Go's time.Duration String() for whole nanoseconds (`1m30s`, `500ms`, `0s`). */
function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${ns / 1e3}µs`;
  if (ns < 1e9) return `${ns / 1e6}ms`;
  let s = ns / 1e9;
  let out = '';
  const h = Math.floor(s / 3600);
  if (h > 0) out += `${h}h`;
  s -= h * 3600;
  const m = Math.floor(s / 60);
  if (h > 0 || m > 0) out += `${m}m`;
  s -= m * 60;
  return `${out}${Number(s.toFixed(9))}s`;
}

/** STOPSIGNAL values moby accepts: a number, or a signal name with or without SIG. */
const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL',
  'PROF', 'PWR', 'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1',
  'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ',
]);

function checkSignal(sig: string): void {
  if (/^[0-9]+$/.test(sig) && Number(sig) > 0 && Number(sig) <= 64) return;
  const name = sig.toUpperCase().replace(/^SIG/, '');
  if (SIGNALS.has(name) || /^RTMIN(\+[0-9]+)?$|^RTMAX(-[0-9]+)?$/.test(name)) return;
  throw new KeelError('E_BUILD_INPUT', `Invalid signal: ${sig}`);
}

/** EXPOSE `80`, `80/udp`, `8000-8002/tcp` to the config's `port/proto` keys (one per port). */
function portKeys(spec: string): string[] {
  const m = /^([0-9]+)(?:-([0-9]+))?(?:\/([a-zA-Z]+))?$/.exec(spec);
  if (m === null) throw new KeelError('E_BUILD_INPUT', `invalid containerPort: ${spec}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (to < from || to > 65535) throw new KeelError('E_BUILD_INPUT', `invalid range: ${spec}`);
  return Array.from({ length: to - from + 1 }, (_, i) => `${from + i}/${proto}`);
}

export type MetadataInstruction = Extract<
  Instruction,
  { kind: 'ENV' | 'LABEL' | 'EXPOSE' | 'USER' | 'VOLUME' | 'STOPSIGNAL' | 'CMD' | 'ENTRYPOINT' | 'SHELL' | 'HEALTHCHECK' | 'ONBUILD' | 'MAINTAINER' }
>;

export function isMetadata(ins: Instruction): ins is MetadataInstruction {
  return ['ENV', 'LABEL', 'EXPOSE', 'USER', 'VOLUME', 'STOPSIGNAL', 'CMD', 'ENTRYPOINT', 'SHELL', 'HEALTHCHECK', 'ONBUILD', 'MAINTAINER'].includes(ins.kind);
}

/**
 * Apply one config-only instruction. `vars` is what words expand against (ENV and ARGs in scope);
 * ENV also updates it. Returns the history text, or undefined when BuildKit records none (ONBUILD).
 */
export function applyMetadata(
  ins: MetadataInstruction,
  cfg: StageConfig,
  vars: Map<string, string>,
  escape: '\\' | '`',
): string | undefined {
  const word = (w: string): string => expandWord(w, vars, { escape });
  switch (ins.kind) {
    case 'ENV': {
      // every value expands against the variables from before the instruction
      const pairs = ins.pairs.map((p) => [word(p.key.value), word(p.value.value)] as const);
      for (const [k, v] of pairs) {
        setEnv(cfg.env, k, v);
        vars.set(k, v);
      }
      return `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
    }
    case 'LABEL': {
      const pairs = ins.pairs.map((p) => [word(p.key.value), word(p.value.value)] as const);
      for (const [k, v] of pairs) cfg.labels.set(k, v);
      return `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
    }
    case 'EXPOSE': {
      const ports = ins.ports.flatMap((p) => expandWords(p.value, vars, { escape })).sort();
      for (const p of ports) for (const key of portKeys(p)) cfg.exposedPorts.add(key);
      return `EXPOSE map[${[...ports.flatMap(portKeys)].sort().map((k) => `${k}:{}`).join(' ')}]`;
    }
    case 'USER':
      cfg.user = word(ins.user.value);
      return `USER ${cfg.user}`;
    case 'VOLUME': {
      const volumes = ins.volumes.map((v) => word(v.value));
      for (const v of volumes) {
        if (v === '') throw new KeelError('E_BUILD_INPUT', 'VOLUME specified can not be an empty string');
        cfg.volumes.add(v);
      }
      return `VOLUME [${volumes.join(' ')}]`;
    }
    case 'STOPSIGNAL': {
      const sig = word(ins.signal.value);
      checkSignal(sig);
      cfg.stopSignal = sig;
      return `STOPSIGNAL ${sig}`;
    }
    case 'CMD': {
      const args = commandArgs(cfg, ins.command);
      cfg.cmd = args;
      cfg.cmdSetInStage = true;
      cfg.argsEscaped = true;
      return `CMD ${goList(args)}`;
    }
    case 'ENTRYPOINT': {
      const args = commandArgs(cfg, ins.command);
      cfg.entrypoint = args;
      if (!cfg.cmdSetInStage) delete cfg.cmd; // an ENTRYPOINT resets a CMD inherited from the base
      return `ENTRYPOINT ${goList(args)}`;
    }
    case 'SHELL':
      cfg.shell = ins.shell.map((s) => s.value);
      return `SHELL [${cfg.shell.join(' ')}]`;
    case 'HEALTHCHECK': {
      const h = ins.healthcheck;
      // zero values are left out, as Go's `omitempty` leaves them out of Docker's HealthConfig
      const nonZero = (k: keyof HealthConfig, v: number) => (v === 0 ? {} : { [k]: v });
      cfg.healthcheck =
        h.type === 'NONE'
          ? { Test: ['NONE'] }
          : {
              Test: h.test,
              ...nonZero('Interval', h.interval),
              ...nonZero('Timeout', h.timeout),
              ...nonZero('StartPeriod', h.startPeriod),
              ...nonZero('StartInterval', h.startInterval),
              ...nonZero('Retries', h.retries),
            };
      const c = cfg.healthcheck;
      return `HEALTHCHECK {Test:[${c.Test.join(' ')}] Interval:${goDuration(c.Interval ?? 0)} Timeout:${goDuration(c.Timeout ?? 0)} StartPeriod:${goDuration(c.StartPeriod ?? 0)} StartInterval:${goDuration(c.StartInterval ?? 0)} Retries:${c.Retries ?? 0}}`;
    }
    case 'ONBUILD':
      cfg.onBuild.push(ins.expression);
      return undefined;
    case 'MAINTAINER':
      cfg.author = ins.maintainer.value;
      return `MAINTAINER ${ins.maintainer.value}`;
  }
}
