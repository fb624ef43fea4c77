/** Progress rendering: BuildKit's plain format, and the live view redrawn in place on a terminal. */
import { sourceExcerpt } from '../src/cli/excerpt';
import { humanSize, plainRenderer, rawJsonRenderer, ttyRenderer } from '../src/cli/progress';

test('plain: #N name, then DONE / CACHED / ERROR, with miss reasons', () => {
  let out = '';
  const r = plainRenderer((s) => (out += s));
  r({ type: 'step-start', step: 1, name: '[1/3] FROM scratch' });
  r({ type: 'step-done', step: 1, name: '[1/3] FROM scratch', seconds: 0.01, cached: false });
  r({ type: 'step-start', step: 2, name: '[2/3] COPY . /app' });
  r({ type: 'step-done', step: 2, name: '[2/3] COPY . /app', seconds: 0.44, cached: false, reason: 'app/x changed' });
  r({ type: 'step-start', step: 3, name: '[3/3] COPY a /a' });
  r({ type: 'step-done', step: 3, name: '[3/3] COPY a /a', seconds: 0, cached: true });
  r.finish(true);
  expect(out).toBe('#1 [1/3] FROM scratch\n#1 DONE 0.0s\n#2 [2/3] COPY . /app\n#2 cache miss: app/x changed\n#2 DONE 0.4s\n#3 [3/3] COPY a /a\n#3 CACHED\n');
});

test('tty: a header and a line per step, redrawn in place (cursor moved up over the last frame)', () => {
  let out = '';
  let t = 0;
  const r = ttyRenderer((s) => (out += s), { now: () => t, tickMs: 0, columns: () => 40 });
  r({ type: 'step-start', step: 1, name: '[1/2] FROM scratch' });
  t = 1500;
  r({ type: 'step-done', step: 1, name: '[1/2] FROM scratch', seconds: 1.5, cached: false });
  r({ type: 'step-start', step: 2, name: '[2/2] COPY a /a' });
  r({ type: 'step-error', step: 2, name: '[2/2] COPY a /a', message: 'no' });
  r.finish(false);
  const frames = out.split(/\x1b\[\d+A/);
  expect(frames).toHaveLength(5); // the first frame, then four redraws over the previous one
  const last = (frames.at(-1) as string).replace(/\x1b\[2K/g, '');
  // each line as wide as the terminal, the time at its right edge
  expect(last).toBe(`[+] Building 1.5s (2/2) FAILED\n => [1/2] FROM scratch${' '.repeat(14)}1.5s\n => [2/2] COPY a /a${' '.repeat(16)}ERROR\n`);
});

test('tty: lines cut to the terminal\'s width, a running step\'s last output lines under it, a failed step\'s whole output at the end', () => {
  let out = '';
  const r = ttyRenderer((s) => (out += s), { now: () => 0, tickMs: 0, columns: () => 30 });
  const long = `[1/1] RUN ${'x'.repeat(100)}`;
  r({ type: 'step-start', step: 1, name: long });
  for (let i = 1; i <= 8; i++) r({ type: 'log', step: 1, line: `line ${i} ${'y'.repeat(40)}` });
  const running = (out.split(/\x1b\[\d+A/).at(-1) as string).replace(/\x1b\[2K/g, '').split('\n').filter((l) => l !== '');
  expect(running.every((l) => [...l].length <= 30)).toBe(true);
  expect(running.slice(2).map((l) => l.slice(0, 12))).toEqual([' => => line 3', ' => => line 4', ' => => line 5', ' => => line 6', ' => => line 7', ' => => line 8'].map((l) => l.slice(0, 12)));
  r({ type: 'step-error', step: 1, name: long, message: 'exit 1' });
  r.finish(false);
  const tail = out.slice(out.lastIndexOf('------\n >'));
  for (let i = 1; i <= 8; i++) expect(tail).toContain(`#1 line ${i} `);
});

test('rawjson: one event a line, as the library gives it', () => {
  let out = '';
  const r = rawJsonRenderer((s) => (out += s));
  const events = [
    { type: 'step-start', step: 1, name: '[1/1] FROM scratch' },
    { type: 'log', step: 1, line: 'hi "there"' },
    { type: 'step-done', step: 1, name: '[1/1] FROM scratch', seconds: 0.5, cached: false },
  ] as const;
  for (const e of events) r(e);
  r.finish(true);
  expect(out.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(events);
});

describe('text from a Dockerfile or a command cannot drive the terminal', () => {
  const hostile = 'LABEL x="\x1b]0;owned\x07\x1b[2J\x9b31m"';
  const feed = (r: ReturnType<typeof plainRenderer>): void => {
    r({ type: 'step-start', step: 1, name: `[1/1] ${hostile}` });
    r({ type: 'log', step: 1, line: 'out\x1b[1A\x1b[2Kgone\r' });
    r({ type: 'step-error', step: 1, name: `[1/1] ${hostile}`, message: 'failed \x1b[31m' });
    r.finish(false);
  };
  test('plain: every control character shown as an escape', () => {
    let out = '';
    feed(plainRenderer((s) => (out += s)));
    expect(out).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(out).toContain('\\x1b]0;owned\\x07\\x1b[2J\\u009b31m');
    expect(out).toContain('#1 out\\x1b[1A\\x1b[2Kgone\\x0d\n');
  });
  test('tty: only keel\'s own cursor moves and line clears reach the terminal', () => {
    let out = '';
    feed(ttyRenderer((s) => (out += s), { now: () => 0, tickMs: 0 }));
    const own = out.replace(/\x1b\[\d+A/g, '').replace(/\x1b\[2K/g, '').replace(/\x1b\[J/g, '');
    expect(own).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(own).toContain('\\x1b]0;owned\\x07');
  });
});

describe('BuildKit\'s excerpt of the Dockerfile around an error', () => {
  const text = ['FROM a', 'RUN one', 'RUN two \\', '  three', 'COPY x y', 'CMD z', ''].join('\n');
  test('two lines either side of a one-line error, one of a longer one', () => {
    expect(sourceExcerpt(text, 'Dockerfile', 5, 5)).toBe([
      'Dockerfile:5', '--------------------', '   3 |     RUN two \\', '   4 |       three', '   5 | >>> COPY x y', '   6 |     CMD z', '   7 |     ', '--------------------', '',
    ].join('\n'));
    expect(sourceExcerpt(text, 'Dockerfile', 3, 4)).toBe([
      'Dockerfile:3', '--------------------', '   2 |     RUN one', '   3 | >>> RUN two \\', '   4 | >>>   three', '   5 |     COPY x y', '--------------------', '',
    ].join('\n'));
  });
  test('at the first line, nothing before; a line past the end, no excerpt', () => {
    expect(sourceExcerpt(text, 'D', 1, 1)?.split('\n').slice(2, 5)).toEqual(['   1 | >>> FROM a', '   2 |     RUN one', '   3 |     RUN two \\']);
    expect(sourceExcerpt(text, 'D', 40, 40)).toBeUndefined();
  });
});

describe('bytes moving in a step', () => {
  test('sizes as BuildKit prints them', () => {
    expect([0, 349, 2048, 27_140_000, 51_360_000, 1_500_000_000].map(humanSize)).toEqual(['0B', '349B', '2.048kB', '27.14MB', '51.36MB', '1.5GB']);
  });
  test('plain: a line a second at most per id, and the last one done', () => {
    let out = '';
    let t = 0;
    const r = plainRenderer((s) => (out += s), () => t);
    const id = 'sha256:abc';
    for (const [at, current] of [[0, 1000], [200, 2000], [1100, 3000], [1200, 4000]] as const) {
      t = at;
      r({ type: 'step-progress', step: 2, id, current, total: 5000, done: false });
    }
    t = 1500;
    r({ type: 'step-progress', step: 2, id, current: 5000, total: 5000, done: true });
    expect(out).toBe('#2 sha256:abc 1kB / 5kB 0.0s\n#2 sha256:abc 3kB / 5kB 2.727kB/s 1.1s\n#2 sha256:abc 5kB / 5kB 1.5s done\n');
  });
  test('tty: under the running step, one line per id, replaced as it moves', () => {
    let out = '';
    const r = ttyRenderer((s) => (out += s), { now: () => 0, tickMs: 0, columns: () => 80 });
    r({ type: 'step-start', step: 1, name: '[1/1] FROM x' });
    r({ type: 'step-progress', step: 1, id: 'sha256:abc', current: 1000, total: 5000, done: false });
    r({ type: 'step-progress', step: 1, id: 'sha256:abc', current: 4000, total: 5000, done: false });
    const frame = (out.split(/\x1b\[\d+A/).at(-1) as string).replace(/\x1b\[2K|\x1b\[J/g, '');
    expect(frame.split('\n').filter((l) => l.includes('sha256:abc'))).toEqual([' => => sha256:abc 4kB / 5kB 0.0s']);
  });
  test('plain: a rate while bytes move; a line without bytes says only its time', () => {
    let out = '';
    let t = 0;
    const r = plainRenderer((s) => (out += s), () => t);
    r({ type: 'step-progress', step: 3, id: 'sending tarball', current: 0, done: false });
    t = 2000;
    r({ type: 'step-progress', step: 3, id: 'sending tarball', current: 50_000_000, done: false });
    r({ type: 'step-progress', step: 3, id: 'naming to app:1', current: 0, done: true });
    expect(out).toBe('#3 sending tarball 0.0s\n#3 sending tarball 50MB 25MB/s 2.0s\n#3 naming to app:1 0.0s done\n');
  });
});
