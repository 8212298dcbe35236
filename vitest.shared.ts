// One vitest configuration for every package: workspace packages resolve to their TypeScript
// source through the "@mmsim/source" export condition, and each run leaves a JSON report that
// scripts/test-summary.mjs adds up into the "N passed, N failed" line CI reads.
import type { SerializedError } from 'vitest';
import { configDefaults, defineConfig } from 'vitest/config';
import type { TestModule, TestRunEndReason } from 'vitest/node';
import { JsonReporter } from 'vitest/reporters';

const conditions = ['@mmsim/source', 'node', 'import', 'module', 'default'];

/** Where each package's run writes its report (scripts/test-summary.mjs reads it). */
export const REPORT_FILE = '.vitest-report.json';
/** The report of a package's quiet run (`test:quiet`): tests that time the live kernel against a
 * model and need the machine to themselves; CI runs them alone after the suite. */
export const QUIET_REPORT_FILE = '.vitest-report.quiet.json';

/**
 * vitest's JSON report plus what it leaves out: the errors thrown outside any test (an unhandled
 * rejection, a timer throwing after its test ended) and why the run ended. vitest fails the run for
 * them (exit code 1) while its JSON report says `success: true` with every test passed.
 */
class ReportWithUnhandledErrors extends JsonReporter {
  private extra: { unhandledErrors: { message: string }[]; reason: TestRunEndReason | undefined } = {
    unhandledErrors: [],
    reason: undefined,
  };

  override onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError> = [],
    reason?: TestRunEndReason,
  ): Promise<void> {
    this.extra = {
      unhandledErrors: unhandledErrors.map((e) => ({ message: `${e.name ?? 'Error'}: ${e.message}` })),
      reason,
    };
    return super.onTestRunEnd(testModules);
  }

  override writeReport(report: string): Promise<void> {
    return super.writeReport(JSON.stringify({ ...JSON.parse(report), ...this.extra }));
  }
}

export function mmsimVitestConfig(
  overrides: {
    testTimeout?: number;
    include?: string[];
    exclude?: string[];
    reportFile?: string;
    env?: Record<string, string>;
  } = {},
) {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@mmsim/source'] } },
    test: {
      include: overrides.include ?? ['test/**/*.test.ts'],
      exclude: [...configDefaults.exclude, ...(overrides.exclude ?? [])],
      env: overrides.env ?? {},
      testTimeout: overrides.testTimeout ?? 60_000,
      hookTimeout: 120_000,
      reporters: [
        'default',
        new ReportWithUnhandledErrors({ outputFile: overrides.reportFile ?? REPORT_FILE }),
      ],
      pool: 'forks',
    },
  });
}
