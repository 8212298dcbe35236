import { mmsimVitestConfig } from '../../vitest.shared.ts';

/** Tests that need the machine to themselves: `pnpm test:quiet` (vitest.quiet.config.ts). */
export const QUIET_TESTS = ['test/verify-for-live.test.ts'];

export default mmsimVitestConfig({ exclude: QUIET_TESTS });
