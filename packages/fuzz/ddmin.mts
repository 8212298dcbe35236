import { loadScenario, runOnKernel, compareReports, formatReportDiff, type Scenario } from '@mmsim/scenario';
import { withSimulatorErrnos, kernelScenarioYaml } from './src/kernel.ts';
import { writeFileSync } from 'node:fs';
const file = process.argv[2]!;
const base = loadScenario(file).scenario;
const strip = (s: Scenario): Scenario => ({ ...s, steps: s.steps.map((x) => { const { expect_errno, ...r } = x as any; return r; }) });
async function differs(s: Scenario): Promise<string | null> {
  let r;
  try { r = withSimulatorErrnos(strip(s)); } catch { return null; }
  try {
    const k = await runOnKernel(r.scenario);
    const d = compareReports(k, r.simulator);
    return d.equal ? null : formatReportDiff(d, ['kernel', 'simulator']);
  } catch { return null; }
}
let cur = base;
let diff = await differs(cur);
if (!diff) { console.log('no difference'); process.exit(0); }
for (let pass = 0; pass < 4; pass++) {
  let changed = false;
  for (let i = cur.steps.length - 2; i >= 0; i--) {
    const st = cur.steps[i]!;
    if (st.op === 'report' && cur.steps.filter((x) => x.op === 'report').length === 1) continue;
    const cand = { ...cur, steps: cur.steps.filter((_, j) => j !== i) };
    const d = await differs(cand);
    if (d) { cur = cand; diff = d; changed = true; process.stdout.write(`${cur.steps.length} `); }
  }
  if (!changed) break;
}
const out = withSimulatorErrnos(strip(cur)).scenario;
writeFileSync(process.argv[3]!, kernelScenarioYaml(out, diff!.split('\n')));
console.log('\nwrote', process.argv[3], out.steps.length, 'steps');
