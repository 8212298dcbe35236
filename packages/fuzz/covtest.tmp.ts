import fc from 'fast-check';
import { BranchCoverage, percent } from './src/coverage.ts';
import { buildKernelScenario, kernelCaseArbitrary, withSimulatorErrnos } from './src/kernel.ts';
const cov = new BranchCoverage();
await cov.start();
const n = Number(process.argv[2] ?? 200);
const arb = kernelCaseArbitrary(40);
for (let seed = 1; seed <= n; seed++) {
  const c = fc.sample(arb, { seed, numRuns: 1 })[0]!;
  withSimulatorErrnos(buildKernelScenario(c, `k-${seed}`));
}
const files = await cov.take('/work/wt/fidelity', (f) => /^packages\/(ksm|mmu|mm)\/src\/[^/]+\.ts$/.test(f));
for (const f of files) console.log(f.file, f.covered, f.branches, percent(f.covered, f.branches));
const k = files.find((f) => f.file.endsWith('ksm/src/ksm.ts'))!;
const g=new Map(); for (const u of k.uncovered) g.set(u.fn,(g.get(u.fn)??0)+1); console.log([...g].sort((a,b)=>b[1]-a[1]).map(([f,n])=>f+" "+n).join("\n"));
