/**
 * Rendering build events on stderr: BuildKit's plain format (`#3 [2/5] COPY . /app`, `#3 DONE 0.4s`)
 * when not on a terminal, and a live view redrawn in place on one (as `docker build` does).
 */
import type { BuildEvent } from '../index.js';
import { printable } from './printable.js';

export interface Renderer {
  (event: BuildEvent): void;
  /** Print the closing line; `ok` false after a failure. */
  finish(ok: boolean): void;
}

export function plainRenderer(write: (s: string) => void): Renderer {
  const render = ((e: BuildEvent) => {
    switch (e.type) {
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

export function ttyRenderer(write: (s: string) => void, now: () => number = () => performance.now(), tickMs = 100): Renderer {
  const started = now();
  let ticker: NodeJS.Timeout | undefined;
  const steps = new Map<number, { name: string; state: 'running' | 'done' | 'cached' | 'error'; t0: number; seconds?: number }>();
  let drawn = 0;
  const draw = (final: boolean, ok = true): void => {
    const elapsed = ((now() - started) / 1000).toFixed(1);
    const doneCount = [...steps.values()].filter((s) => s.state !== 'running').length;
    const head = `[+] Building ${elapsed}s (${doneCount}/${steps.size})${final ? (ok ? ' FINISHED' : ' FAILED') : ''}`;
    const lines = [head, ...[...steps.values()].map((s) => {
      const time = s.state === 'running' ? ((now() - s.t0) / 1000).toFixed(1) : (s.seconds ?? 0).toFixed(1);
      const tag = s.state === 'cached' ? 'CACHED' : s.state === 'error' ? 'ERROR' : `${time}s`;
      return ` => ${s.state === 'cached' ? 'CACHED ' : ''}${s.name}${' '.repeat(Math.max(1, 60 - s.name.length))}${s.state === 'cached' ? '' : tag}`;
    })];
    write(`${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}\n`).join('')}`);
    drawn = lines.length;
  };
  const render = ((e: BuildEvent) => {
    // redraw while a step runs, so its timer moves (unref'd: it never keeps the process alive)
    if (ticker === undefined && tickMs > 0) {
      ticker = setInterval(() => draw(false), tickMs);
      ticker.unref();
    }
    if (e.type === 'step-start') steps.set(e.step, { name: printable(e.name), state: 'running', t0: now() });
    const s = steps.get(e.step);
    if (s !== undefined && e.type === 'step-done') Object.assign(s, { state: e.cached ? 'cached' : 'done', seconds: e.seconds });
    if (s !== undefined && e.type === 'step-error') s.state = 'error';
    draw(false);
  }) as Renderer;
  render.finish = (ok: boolean) => {
    if (ticker !== undefined) clearInterval(ticker);
    draw(true, ok);
  };
  return render;
}
