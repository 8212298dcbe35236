import { loadScenario, runOnKernel } from '@mmsim/scenario';
process.env.MMSIM_ORACLE_TRACE = '1';
const { scenario } = loadScenario(process.argv[2]!);
const r = await runOnKernel(scenario, { onStderr: (l) => console.log(l) });
console.log(JSON.stringify(r.failures), r.reports.length);
