/**
 * Rendering build events on stderr: BuildKit's plain format (`#3 [2/5] COPY . /app`, `#3 DONE 0.4s`)
 * when not on a terminal; on one, a live view redrawn in place (as `docker build` does), each line
 * cut to the terminal's width, a running step's last lines of output under it and a failed step's
 * whole output after the view; or one JSON object a line (`rawjson`: the BuildEvent as the library
 * gives it, for programs).
 */
import type { BuildEvent } from '../index.js';
import { printable } from './printable.js';

export interface Renderer {
  (event: BuildEvent): void;
  /** Print the closing lines; `ok` false after a failure. */
  finish(ok: boolean): void;
}

/** A byte count as BuildKit prints it (go-units HumanSize: decimal units, four significant digits): `27.14MB`. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let x = bytes;
  let i = 0;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i++;
  }
  return `${Number(x.toPrecision(4))}${units[i] as string}`;
}

type Progress = Extract<BuildEvent, { type: 'step-progress' }>;

/**
 * `sha256:ab12… 12.58MB / 49.27MB 25.16MB/s 0.5s`, as BuildKit's progress lines read, with the
 * rate since the id was first seen while it moves (none in its first tenth of a second, or done).
 */
function progressLine(p: Progress, seconds: number): string {
  const amount = p.total === undefined || p.id === 'transferring context' ? humanSize(p.current) : `${humanSize(p.current)} / ${humanSize(p.total)}`;
  const rate = !p.done && seconds >= 0.1 ? ` ${humanSize(p.current / seconds)}/s` : '';
  // a line that moves no bytes (`naming to app:1`) says only its time
  const bytes = p.total === undefined && p.current === 0 ? '' : ` ${amount}${rate}`;
  return `${printable(p.id)}${bytes} ${seconds.toFixed(1)}s${p.done ? ' done' : ''}`;
}

/** Lines a second at most, per id, in plain mode (and every last one). */
const PLAIN_PROGRESS_EVERY_MS = 1000;

export function plainRenderer(write: (s: string) => void, now: () => number = () => performance.now()): Renderer {
  const seen = new Map<string, { first: number; printed: number }>();
  const render = ((e: BuildEvent) => {
    switch (e.type) {
      case 'step-progress': {
        const key = `${e.step} ${e.id}`;
        const t = now();
        const s = seen.get(key) ?? { first: t, printed: -Infinity };
        seen.set(key, s);
        if (!e.done && t - s.printed < PLAIN_PROGRESS_EVERY_MS) break;
        s.printed = t;
        write(`#${e.step} ${progressLine(e, (t - s.first) / 1000)}\n`);
        break;
      }
      case 'step-start':
        write(`#${e.step} ${printable(e.name)}\n`);
        break;
      case 'step-done':
        if (e.reason !== undefined) write(`#${e.step} cache miss: ${printable(e.reason)}\n`);
        write(e.cached ? `#${e.step} CACHED\n` : `#${e.step} DONE ${e.seconds.toFixed(1)}s\n`);
        break;
      case 'step-error':
        write(`#${e.step} ERROR: ${printable(e.message)}\n`);
        break;
      case 'log':
        write(`#${e.step} ${printable(e.line)}\n`);
        break;
    }
  }) as Renderer;
  render.finish = () => {};
  return render;
}

/** One event a line, as JSON: `{"type":"step-start","step":1,"name":"[1/2] FROM scratch"}`. */
export function rawJsonRenderer(write: (s: string) => void): Renderer {
  const render = ((e: BuildEvent) => write(`${JSON.stringify(e)}\n`)) as Renderer;
  render.finish = () => {};
  return render;
}

export interface TtyOptions {
  readonly now?: () => number;
  /** How often the view is redrawn while a step runs (0: only on events). @default 100 */
  readonly tickMs?: number;
  /** The terminal's width, asked at each redraw (it may change). @default 80 */
  readonly columns?: () => number;
}

/** Lines of a running step's output shown under it (BuildKit shows 6). */
const LOG_TAIL = 6;

interface StepView {
  name: string;
  state: 'running' | 'done' | 'cached' | 'error';
  t0: number;
  seconds?: number;
  log: string[];
  /** Bytes moving in the step, by id, with when each was first seen. */
  progress: Map<string, { event: Progress; first: number }>;
}

/** `text` cut to `width` columns (one column a code point: a cut wide character only wastes room). */
const cut = (text: string, width: number): string => {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
};

export function ttyRenderer(write: (s: string) => void, opts: TtyOptions = {}): Renderer {
  const now = opts.now ?? (() => performance.now());
  const tickMs = opts.tickMs ?? 100;
  const columns = opts.columns ?? (() => 80);
  const started = now();
  let ticker: NodeJS.Timeout | undefined;
  const steps = new Map<number, StepView>();
  let drawn = 0;
  const draw = (final: boolean, ok = true): void => {
    const width = Math.max(20, columns());
    const elapsed = ((now() - started) / 1000).toFixed(1);
    const doneCount = [...steps.values()].filter((s) => s.state !== 'running').length;
    const head = `[+] Building ${elapsed}s (${doneCount}/${steps.size})${final ? (ok ? ' FINISHED' : ' FAILED') : ''}`;
    const lines = [head];
    for (const s of steps.values()) {
      const time = s.state === 'running' ? ((now() - s.t0) / 1000).toFixed(1) : (s.seconds ?? 0).toFixed(1);
      const tag = s.state === 'cached' ? '' : s.state === 'error' ? 'ERROR' : `${time}s`;
      const name = ` => ${s.state === 'cached' ? 'CACHED ' : ''}${s.name}`;
      // the name cut so that its time still fits on the line
      const room = width - tag.length - 1;
      lines.push(tag === '' ? cut(name, width) : `${cut(name, room).padEnd(room)} ${tag}`);
      if (s.state === 'running' && !final) {
        for (const p of s.progress.values()) lines.push(cut(` => => ${progressLine(p.event, (now() - p.first) / 1000)}`, width));
        for (const l of s.log.slice(-LOG_TAIL)) lines.push(cut(` => => ${l}`, width));
      }
    }
    write(`${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}\n`).join('')}${drawn > lines.length ? '\x1b[J' : ''}`);
    drawn = lines.length;
  };
  const render = ((e: BuildEvent) => {
    // redraw while a step runs, so its timer moves (unref'd: it never keeps the process alive)
    if (ticker === undefined && tickMs > 0) {
      ticker = setInterval(() => draw(false), tickMs);
      ticker.unref();
    }
    if (e.type === 'warning') return; // printed with the result, as buildx prints them
    if (e.type === 'step-start') steps.set(e.step, { name: printable(e.name), state: 'running', t0: now(), log: [], progress: new Map() });
    const s = steps.get(e.step);
    if (s !== undefined) {
      if (e.type === 'step-done') Object.assign(s, { state: e.cached ? 'cached' : 'done', seconds: e.seconds });
      if (e.type === 'step-error') Object.assign(s, { state: 'error', error: e.message });
      if (e.type === 'log') s.log.push(printable(e.line));
      if (e.type === 'step-progress') s.progress.set(e.id, { event: e, first: s.progress.get(e.id)?.first ?? now() });
    }
    if ((e.type !== 'log' && e.type !== 'step-progress') || tickMs === 0) draw(false);
  }) as Renderer;
  render.finish = (ok: boolean) => {
    if (ticker !== undefined) clearInterval(ticker);
    draw(true, ok);
    // a failed step's whole output, after the view (as BuildKit prints it)
    if (!ok) {
      for (const [n, s] of steps) {
        if (s.state !== 'error' || s.log.length === 0) continue;
        write(`------\n > ${s.name}:\n${s.log.map((l) => `#${n} ${l}\n`).join('')}------\n`);
      }
    }
  };
  return render;
}
