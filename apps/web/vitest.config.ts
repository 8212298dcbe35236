import { mmsimVitestConfig } from '../../vitest.shared.ts';

export default mmsimVitestConfig({ testTimeout: 120_000 });
