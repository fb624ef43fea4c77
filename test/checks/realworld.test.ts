/**
 * check() over the 52 real-world Dockerfiles of ../shared/conformance/realworld: none crashes, and
 * the findings are the ones listed in test/fixtures/checks-realworld.txt (a file a reviewer reads:
 * each Dockerfile, then `LINE Rule: message`). Base images are not known here, so UndefinedVar is
 * not judged on image-based stages (a variable may be the image's). After a deliberate change of
 * the checks, `KEEL_WRITE_FIXTURE=1 npx jest test/checks/realworld` writes the fixture anew (review its diff).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, parse } from '../../src';
import { describeConformance, REALWORLD_DIR } from '../support/conformance';

const FIXTURE = join(__dirname, '..', 'fixtures', 'checks-realworld.txt');

/** The findings of every real-world Dockerfile, as the fixture lists them. */
function realworldFindings(): string {
  const files = readFileSync(join(REALWORLD_DIR, 'INDEX.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t')[0] as string);
  let out = '';
  for (const f of files) {
    const r = check(parse(readFileSync(join(REALWORLD_DIR, f), 'utf8'), { recover: true }));
    out += `${f}\n`;
    for (const x of r.findings) out += `  ${x.range.start.line} ${x.rule}: ${x.message}\n`;
  }
  return out;
}

describeConformance('build checks on the real-world corpus', () => {
  test('52 Dockerfiles, no crash, the findings of the fixture', () => {
    const got = realworldFindings();
    expect(got.split('\n').filter((l) => l !== '' && !l.startsWith(' '))).toHaveLength(52);
    if (process.env.KEEL_WRITE_FIXTURE === '1') writeFileSync(FIXTURE, got);
    expect(got).toBe(readFileSync(FIXTURE, 'utf8'));
  });
});
