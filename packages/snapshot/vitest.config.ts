import { mmsimVitestConfig } from '../../vitest.shared.ts';

export default mmsimVitestConfig();
