// `pnpm test:quiet`: the tests that compare a timed prediction with the live ksmd, run alone
// (scripts/test-summary.mjs counts their report with the suite's). MMSIM_QUIET_RUN tells them
// that nothing else of the suite runs beside them.
import { mmsimVitestConfig, QUIET_REPORT_FILE } from '../../vitest.shared.ts';
import { QUIET_TESTS } from './vitest.config.ts';

export default mmsimVitestConfig({
  include: QUIET_TESTS,
  reportFile: QUIET_REPORT_FILE,
  testTimeout: 300_000,
  env: { MMSIM_QUIET_RUN: '1' },
});
