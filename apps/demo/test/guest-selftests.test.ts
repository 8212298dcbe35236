// The kernel's own KSM selftests, run in the guest kernels by scripts/guest-selftests.sh (transcripts
// in scenarios/selftests/<kernel>-<program>.txt), against the simulator as that kernel:
// offline. Each selftest case that a scenario mirrors must agree with it: the case passed on the
// kernel exactly when the simulator, with that kernel's profile, runs the scenario with every
// expect step holding (an expect on a field that kernel does not have, such as 6.1's
// ksm_zero_pages, does not count: the selftest does not look at it there). Cases no scenario
// mirrors must have passed.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kernelProfile } from '@mmsim/core';
import { runOnSimulator } from '@mmsim/scenario';
import { hostMemory, loadScenario } from '@mmsim/scenario/node';
import { describe, expect, it } from 'vitest';
import { kernelSpec } from '../src/guest/kernels.ts';
import { root } from './helpers.ts';

type Verdict = 'pass' | 'fail' | 'skip';

/** ksm_tests (6.1) arguments -> the scenario mirroring the case (null: none does). */
const KSM_TESTS: Record<string, string | null> = {
  '-M -p 10': 'ksm-tests-merge',
  '-M -p 10 -a r': null,
  '-M -p 10 -a rw': null,
  '-U': 'ksm-tests-unmerge',
  '-Z -p 10 -z 0': 'ksm-tests-zero-page-z0',
  '-Z -p 10 -z 1': 'ksm-tests-zero-page-z1',
  '-N -m 1': null,
  '-N -m 0': null,
};

/** ksm_functional_tests (6.12) in its plan order (the TAP number) -> name and scenario. */
const FUNCTIONAL: readonly [string, string | null][] = [
  ['test_unmerge', 'ksm-functional-unmerge'],
  ['test_unmerge_zero_pages', 'ksm-functional-unmerge-zero-pages'],
  ['test_unmerge_discarded', 'ksm-functional-unmerge-discarded'],
  ['test_unmerge_uffd_wp', null],
  ['test_prot_none', 'ksm-functional-prot-none'],
  ['test_prctl', 'ksm-functional-prctl'],
  ['test_prctl_fork', 'ksm-functional-prctl-fork'],
  ['test_prctl_fork_exec', null],
  ['test_prctl_unmerge', 'ksm-functional-prctl'],
];

interface Run {
  args: string;
  status: string;
  output: string;
}

/** The runs of one `mmsim kernels exec` transcript ("$ prog args   # ended with S after N ms"). */
function runs(text: string): Run[] {
  const out: Run[] = [];
  for (const part of text.split(/^\$ /m).slice(1)) {
    const nl = part.indexOf('\n');
    const head = /^\S+ ?(.*?)\s+# ended with (\S+) after \d+ ms$/.exec(part.slice(0, nl));
    if (head === null) throw new Error(`unreadable transcript line: ${part.slice(0, nl)}`);
    out.push({ args: head[1]!.trim(), status: head[2]!, output: part.slice(nl + 1) });
  }
  return out;
}

function ksmTestsVerdict(r: Run): Verdict {
  if (/At least 2 NUMA nodes must be available/.test(r.output)) return 'skip';
  return r.status === '0' && /^OK$/m.test(r.output) ? 'pass' : 'fail';
}

/** TAP results by test number; the last line of a number wins (test_prctl_fork_exec's child
 * prints its own TAP lines before the parent's result). */
function tapVerdicts(output: string): Map<number, Verdict> {
  const v = new Map<number, Verdict>();
  for (const m of output.matchAll(/(not ok|ok) (\d+)([^\n]*)/g)) {
    const skip = m[3]!.trimStart().startsWith('# SKIP');
    v.set(Number(m[2]), m[1] === 'not ok' ? 'fail' : skip ? 'skip' : 'pass');
  }
  return v;
}

const simulated = new Map<string, boolean>();
/** Whether the simulator as `kernel` runs the scenario with every expect holding, but for those
 * on fields the kernel lacks (the simulator leaves them out of its report: "got undefined"). */
function simulatorPasses(kernel: string, scenario: string): boolean {
  const key = `${kernel}/${scenario}`;
  let ok = simulated.get(key);
  if (ok === undefined) {
    const loaded = loadScenario(join(root, 'scenarios', `${scenario}.yaml`));
    const profile = kernelProfile(kernelSpec(kernel).profile);
    const report = runOnSimulator(loaded, { host: hostMemory(), kernel: profile });
    ok = report.failures.every((f) => f.op === 'expect' && f.message.endsWith('got undefined'));
    simulated.set(key, ok);
  }
  return ok;
}

const dir = join(root, 'scenarios', 'selftests');

describe('ksm_tests of 6.1 on Linux 6.1.192, beside the simulator as 6.1', () => {
  const file = join(dir, '6.1-ksm_tests.txt');
  it.skipIf(!existsSync(file))('every case of the transcript is known and agrees', () => {
    const all = runs(readFileSync(file, 'utf8'));
    expect(all.map((r) => r.args).sort()).toEqual(Object.keys(KSM_TESTS).sort());
    for (const r of all) {
      const verdict = ksmTestsVerdict(r);
      const scenario = KSM_TESTS[r.args];
      if (scenario === null || scenario === undefined) {
        expect(verdict, `ksm_tests ${r.args}`).toBe('pass');
      } else {
        expect(verdict === 'pass', `ksm_tests ${r.args} vs ${scenario}`).toBe(
          simulatorPasses('6.1', scenario),
        );
      }
    }
  });
});

for (const kernel of ['6.12', '6.12.43', '6.1']) {
  describe(`ksm_functional_tests of 6.12 on Linux ${kernel}, beside the simulator as ${kernelSpec(kernel).profile}`, () => {
    const file = join(dir, `${kernel}-ksm_functional_tests.txt`);
    it.skipIf(!existsSync(file))('every test agrees with the scenario that mirrors it', () => {
      const [run] = runs(readFileSync(file, 'utf8'));
      const verdicts = tapVerdicts(run!.output);
      expect(verdicts.size).toBe(FUNCTIONAL.length);
      FUNCTIONAL.forEach(([name, scenario], i) => {
        const verdict = verdicts.get(i + 1)!;
        if (scenario === null) return; // userfaultfd and exec: not in the scenario format
        expect(verdict === 'pass', `${name} (${verdict}) vs ${scenario}`).toBe(
          simulatorPasses(kernel, scenario),
        );
      });
    });
  });
}
