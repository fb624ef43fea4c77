/**
 * The plan below build(): which stages a target needs and in what order, what each step waits
 * for, and the refusals (a stage named before it is defined, a target that does not exist); and
 * the slots that bound how many steps run at once.
 */
import { parse } from '../../src';
import { instructionDeps, planStages, requiredStages, targetStage } from '../../src/builder/plan';
import { Slots } from '../../src/builder/slots';

const plan = (text: string) => planStages(parse(text));
const names = (stages: ReadonlyArray<{ index: number; name?: string }>) => stages.map((s) => s.name ?? String(s.index));

test.each([
  ['a chain', 'FROM scratch AS a\nFROM a AS b\nFROM b AS c\n', 'c', ['a', 'b', 'c']],
  ['COPY --from by name and by index', 'FROM scratch AS a\nFROM scratch AS b\nFROM scratch AS c\nCOPY --from=b /x /x\nCOPY --from=0 /y /y\n', 'c', ['b', 'a', 'c']],
  ['RUN --mount=from=', 'FROM scratch AS tools\nFROM scratch AS c\nRUN --mount=type=bind,from=tools,target=/t true\n', 'c', ['tools', 'c']],
  ['unused stages are skipped', 'FROM scratch AS a\nFROM scratch AS unused\nFROM a AS c\n', 'c', ['a', 'c']],
  ['a target in the middle builds only what it needs', 'FROM scratch AS a\nFROM a AS b\nFROM b AS c\n', 'b', ['a', 'b']],
  ['a --from naming an image is no stage', 'FROM scratch AS c\nCOPY --from=busybox:1 /bin/sh /sh\n', 'c', ['c']],
  ['a FROM by variable', 'ARG BASE=a\nFROM scratch AS a\nFROM ${BASE} AS c\n', 'c', ['a', 'c']],
])('%s', (_name, text, target, order) => {
  const p = plan(text);
  const globals = new Map([['BASE', 'a']]);
  expect(names(requiredStages(p, targetStage(p, target), globals))).toEqual(order);
});

test('each step waits for exactly the stages it reads', () => {
  const p = plan('FROM scratch AS a\nFROM scratch AS b\nFROM scratch AS c\nCOPY x /x\nCOPY --from=a /a /a\nRUN --mount=from=b,target=/b true\nRUN true\n');
  const c = p.stages[2] as (typeof p.stages)[number];
  expect(c.instructions.map((ins) => names(instructionDeps(p, c, ins)))).toEqual([[], ['a'], ['b'], []]);
});

test.each([
  ['a stage that names a later one (a cycle cannot be written)', 'FROM b AS a\nFROM a AS b\n', 'b'],
  ['a stage that copies from itself', 'FROM scratch AS a\nCOPY --from=a /x /x\n', 'a'],
  ['an index of a later stage', 'FROM scratch AS a\nCOPY --from=1 /x /x\nFROM scratch AS b\n', 'a'],
])('refused with E_STAGE: %s', (_name, text, target) => {
  const p = plan(text);
  expect(() => requiredStages(p, targetStage(p, target), new Map())).toThrow(expect.objectContaining({ code: 'E_STAGE', message: expect.stringMatching(/before it is defined|this or a later stage/) }));
});

test('a target that does not exist is E_STAGE', () => {
  expect(() => targetStage(plan('FROM scratch AS a\n'), 'nope')).toThrow(expect.objectContaining({ code: 'E_STAGE' }));
});

test.each([1, 2, 3])('slots: at most %i tasks at once, all of them run', async (limit) => {
  const slots = new Slots(limit);
  let running = 0;
  let most = 0;
  const done: number[] = [];
  await Promise.all(Array.from({ length: 10 }, (_, i) => slots.run(async () => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 1 + (i % 3)));
    running--;
    done.push(i);
  })));
  expect(most).toBe(limit);
  expect(done.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('slots: a failing task frees its slot', async () => {
  const slots = new Slots(1);
  await expect(slots.run(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
  await expect(slots.run(() => Promise.resolve(7))).resolves.toBe(7);
});
