/**
 * Fuzzing (issue 10): parse() of generated Dockerfile text throws nothing but ParseError, and
 * build() of generated Dockerfiles over a small context (every instruction but RUN, with flags,
 * quotes, variables, heredocs, stage references and paths that climb) throws nothing but
 * KeelErrors and never hangs. CI runs KEEL_FUZZ_RUNS (default 10,000) of each; `npm run fuzz` runs
 * a million (KEEL_FUZZ_RUNS=1000000). A failing case prints its seed and path for fast-check's replay.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { build, isKeelError, parse, ParseError } from '../../src';

const RUNS = Number(process.env.KEEL_FUZZ_RUNS ?? 10_000);
/** A build that takes longer than this has hung. */
const HANG_MS = 10_000;

const WORDS = ['a', 'b.txt', 'dir', 'dir/', 'dir/*', '*', '?.txt', '[ab]*', '/', '.', '..', '../x', '/etc/passwd', 'link', 'missing',
  '$A', '${A}', '${A:-dflt}', '${A:+x}', '${UNSET?err}', '"q t"', "'s q'", '\\"', 'é', '--x', '0', '1000', 'root:root', 'app', '-', '<<EOF'];
const FLAGS = ['--from=0', '--from=s', '--from=nope', '--chown=1:2', '--chown=app', '--chown=$A', '--chmod=755', '--chmod=9', '--link', '--parents',
  '--exclude=*.txt', '--checksum=sha256:00', '--keep-git-dir', '--platform=linux/amd64', '--mount=type=cache,target=/c', '--network=none'];
const KEYWORDS = ['COPY', 'ADD', 'WORKDIR', 'ENV', 'ARG', 'LABEL', 'USER', 'EXPOSE', 'VOLUME', 'STOPSIGNAL', 'CMD', 'ENTRYPOINT', 'SHELL',
  'HEALTHCHECK', 'ONBUILD', 'MAINTAINER', 'FROM', 'BOGUS'];

const word = fc.constantFrom(...WORDS);
const line = fc.tuple(fc.constantFrom(...KEYWORDS), fc.array(fc.constantFrom(...FLAGS), { maxLength: 2 }), fc.array(word, { minLength: 0, maxLength: 4 }), fc.boolean())
  .map(([kw, flags, words, json]) => `${kw} ${flags.join(' ')} ${json && words.length > 0 ? JSON.stringify(words) : words.join(' ')}`);
/** Lines a build takes, so that generated builds reach the steps after them. */
const valid = fc.constantFrom('COPY a /x/', 'COPY dir /d', 'COPY * /all/', 'ADD b.txt /b', 'ENV A=1 B="two words"', 'WORKDIR /w/$A', 'LABEL k=v',
  'USER 1000:1000', 'COPY --chmod=600 a b.txt /f/', 'COPY <<EOF /h\nhello $A\nEOF', 'ARG B=2', 'EXPOSE 80/tcp', 'COPY --parents dir/./c.txt /p/', 'CMD ["x"]');
const dockerfile = fc.tuple(
  fc.constantFrom('', 'ARG A=x\n', 'ARG A\n', '# escape=`\n'),
  fc.constantFrom('FROM scratch', 'FROM scratch AS s', 'FROM s', 'FROM $A', 'FROM scratch AS s\nCOPY a /a\nFROM s AS t'),
  fc.array(fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: line }), { maxLength: 8 }),
  fc.constantFrom('', '\nEOF\n', '\nFROM scratch\nCOPY --from=s / /\n'),
).map(([head, from, lines, tail]) => `${head}${from}\n${lines.join('\n')}${tail}\n`);

test(`parse() of ${RUNS} generated texts throws only ParseError`, () => {
  const text = fc.oneof(dockerfile, fc.string({ maxLength: 300 }), fc.array(fc.constantFrom('\\', '\n', ' ', '"', '$', '{', '<<', 'EOF', 'RUN ', '#', '`', 'a'), { maxLength: 100 }).map((a) => a.join('')));
  fc.assert(fc.property(text, (t) => {
    try {
      parse(t);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
    }
    parse(t, { recover: true }); // never throws
  }), { numRuns: RUNS });
});

describe('build() of generated Dockerfiles', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keel-fuzz-'));
    const ctx = join(dir, 'ctx');
    await mkdir(join(ctx, 'dir', 'sub'), { recursive: true });
    await writeFile(join(ctx, 'a'), 'a');
    await writeFile(join(ctx, 'b.txt'), 'b');
    await writeFile(join(ctx, 'dir', 'c.txt'), 'c');
    await writeFile(join(ctx, 'dir', 'sub', 'd'), 'd');
    await symlink('../../../etc/passwd', join(ctx, 'link'));
    await writeFile(join(ctx, '.dockerignore'), 'dir/sub\n!dir/sub/d\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test(`${RUNS} builds throw only KeelErrors and never hang`, async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(fc.asyncProperty(dockerfile, async (text) => {
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), HANG_MS)));
      const outcome = await Promise.race([
        build({ context: join(dir, 'ctx'), dockerfile: { text }, cacheDir: join(dir, 'cache'), pull: 'never' }).then(() => 'built', (e: unknown) => e),
        hang,
      ]);
      clearTimeout(timer);
      if (outcome === 'hang') throw new Error(`build() hung on:\n${text}`);
      const kind = outcome === 'built' ? 'built' : isKeelError(outcome) ? outcome.code : 'other';
      outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
      if (outcome !== 'built' && !isKeelError(outcome)) throw outcome;
    }), { numRuns: RUNS });
    // the generator reaches the builder, not only the parser: some builds succeed, and steps fail in more than one way
    const built = outcomes.get('built') ?? 0;
    expect(built).toBeGreaterThan(RUNS / 10);
    expect([...outcomes.keys()].filter((k) => k !== 'built' && !k.startsWith('E_UNKNOWN') && k !== 'E_FLAG' && k !== 'E_ARGUMENTS').length).toBeGreaterThan(2);
  }, 60 * 60_000);
});
