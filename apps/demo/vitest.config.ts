import { mmsimVitestConfig } from '../../vitest.shared.ts';

/** Tests that need the machine to themselves: the suite runs them only to skip them (with the
 * reason); `pnpm test:quiet` (vitest.quiet.config.ts) runs them alone. */
export const QUIET_TESTS = ['test/verify-for-live.test.ts'];

export default mmsimVitestConfig();
