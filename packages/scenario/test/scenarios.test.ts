// Every scenario in scenarios/ runs on the simulator (its expects must pass, every invariant
// holding) and its report must equal the live kernel's answer recorded in scenarios/expected/
// (regression), on every machine. Where the live kernel is available (root, KSM, cc, and no
// MMSIM_OFFLINE), the kernel runs too and must still equal the recording (drift): the two are
// separate tests so a changed kernel is never mistaken for a simulator bug, and the other way round.

import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { checkKsmInvariants } from '@mmsim/ksm';
import { checkMmInvariants } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { formatReportDiff, type Report, runOnSimulator } from '../src/index.ts';
import {
  compareWithRecording,
  hostMemory,
  listScenarioFiles,
  loadRecordingFor,
  loadScenario,
  OracleRefusedError,
  oracleAvailability,
  RECORDING_DIR,
  recordingPath,
  runOnKernel,
  SCENARIOS_DIR,
} from '../src/node.ts';

const files = listScenarioFiles(SCENARIOS_DIR);
/** native/oracle.c's refusal when a process outside the run has KSM enabled. */
const ANOTHER_KSM_USER = /another process uses KSM/;
const kernel = oracleAvailability();
if (!kernel.available)
  console.log(`scenario drift tests (live kernel vs recording) skipped: ${kernel.reason}`);

describe('scenarios/', () => {
  it('holds scenarios', () => expect(files.length).toBeGreaterThan(0));

  it("every recording belongs to a scenario file (the host kernel's and each guest kernel's)", () => {
    const names = new Set(files.map((f) => basename(recordingPath(f))));
    const dir = join(SCENARIOS_DIR, RECORDING_DIR);
    const orphans: string[] = [];
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      // A directory holds a guest kernel's recordings (expected/<kernel>/NAME.json).
      const inDir = e.isDirectory() ? readdirSync(join(dir, e.name)).map((n) => `${e.name}/${n}`) : [e.name];
      for (const n of inDir) if (!names.has(basename(n))) orphans.push(n);
    }
    expect(orphans).toEqual([]);
  });

  for (const file of files) {
    const f = basename(file);
    it(`${f} runs on the simulator with every invariant holding after every step`, () => {
      const loaded = loadScenario(file);
      const r = runOnSimulator(loaded, {
        host: hostMemory(),
        afterStep: (ctx) => {
          checkMmInvariants(ctx.machine);
          checkKsmInvariants(ctx.ksm);
        },
      });
      expect(r.failures).toEqual([]);
    });

    it(`${f}: the simulator equals the kernel's recorded answer, every report step (regression)`, () => {
      const loaded = loadScenario(file);
      const rec = loadRecordingFor(loaded);
      expect(rec.scenario).toBe(f);
      // Every report step is in the recording, in order: nothing the kernel answered goes unchecked.
      const labels = loaded.scenario.steps.flatMap((s) => (s.op === 'report' ? [s.label] : []));
      expect(rec.report.reports.map((e) => e.label)).toEqual(labels);
      const diff = compareWithRecording(runOnSimulator(loaded, { host: rec.host }), rec);
      expect(diff.equal, formatReportDiff(diff, ['simulator', `recorded (Linux ${rec.kernel})`])).toBe(true);
    });

    it.skipIf(!kernel.available)(
      `${f}: the live kernel still equals its recording (drift)${kernel.available ? '' : ` (skipped: ${kernel.reason})`}`,
      async (ctx) => {
        const loaded = loadScenario(file);
        const rec = loadRecordingFor(loaded);
        let live: Report;
        try {
          live = await runOnKernel(loaded.scenario);
        } catch (e) {
          // KSM is machine-wide: while another process (a QEMU guest with mem-merge, say) has it
          // enabled, the kernel cannot answer here; the regression test above still ran.
          if (e instanceof OracleRefusedError && ANOTHER_KSM_USER.test(e.message)) {
            console.log(`${f}: drift test skipped: ${e.message}`);
            return ctx.skip(e.message);
          }
          throw e;
        }
        const diff = compareWithRecording(live, rec);
        const names: [string, string] = ['live kernel', `recorded (Linux ${rec.kernel}, ${rec.recorded})`];
        expect(
          diff.equal,
          `the kernel changed, not the simulator: re-record with \`sudo pnpm mmsim record scenarios/${f}\` once the change is understood\n${formatReportDiff(diff, names)}`,
        ).toBe(true);
      },
      120_000,
    );
  }
});
