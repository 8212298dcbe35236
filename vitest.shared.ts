// One vitest configuration for every package: workspace packages resolve to their TypeScript
// source through the "@mmsim/source" export condition, and each run leaves a JSON report that
// scripts/test-summary.mjs adds up into the "N passed, N failed" line CI reads.
import { defineConfig } from 'vitest/config';

const conditions = ['@mmsim/source', 'node', 'import', 'module', 'default'];

export function mmsimVitestConfig(overrides: { testTimeout?: number; include?: string[] } = {}) {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@mmsim/source'] } },
    test: {
      include: overrides.include ?? ['test/**/*.test.ts'],
      testTimeout: overrides.testTimeout ?? 60_000,
      hookTimeout: 120_000,
      reporters: ['default', 'json'],
      outputFile: { json: '.vitest-report.json' },
      pool: 'forks',
    },
  });
}
