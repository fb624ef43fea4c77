/**
 * Where the shared conformance data lives (../shared/conformance beside the project) and what to do
 * when it is missing: outside this workplace the suites skip with a one-line notice; in CI
 * (CI=true or KEEL_REQUIRE_INTEGRATION=1) a missing corpus is a failure (SPEC.md section 3).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const CONFORMANCE_DIR = resolve(__dirname, '..', '..', '..', 'shared', 'conformance');
export const BUILDKIT_DIR = join(CONFORMANCE_DIR, 'buildkit');
export const REALWORLD_DIR = join(CONFORMANCE_DIR, 'realworld');

const required = process.env.CI === 'true' || process.env.KEEL_REQUIRE_INTEGRATION === '1';

/** `describe` when the corpus is there; otherwise a notice (or, in CI, a failing test). */
export function describeConformance(name: string, fn: () => void): void {
  if (existsSync(BUILDKIT_DIR)) {
    describe(name, fn);
  } else if (required) {
    describe(name, () => {
      test('conformance corpus is present', () => {
        throw new Error(`conformance corpus missing at ${CONFORMANCE_DIR} (required in CI)`);
      });
    });
  } else {
    // eslint-disable-next-line no-console
    console.warn(`keel: ${name}: skipped, no conformance corpus at ${CONFORMANCE_DIR}`);
    describe.skip(name, fn);
  }
}
