// `pnpm test:quiet`: the tests that compare a timed prediction with the live ksmd, run alone
// (CI runs them after the suite, once the load has settled; scripts/test-summary.mjs counts them).
import { mmsimVitestConfig, QUIET_REPORT_FILE } from '../../vitest.shared.ts';
import { QUIET_TESTS } from './vitest.config.ts';

export default mmsimVitestConfig({
  include: QUIET_TESTS,
  reportFile: QUIET_REPORT_FILE,
  testTimeout: 300_000,
});
