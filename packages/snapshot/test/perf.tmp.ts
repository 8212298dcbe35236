import { captureSnapshot } from '@mmsim/snapshot';
import { spawn } from 'node:child_process';
const mib = Number(process.argv[2] ?? 1024);
const k = spawn('/tmp/snapbuild/pages', [String(mib)], { stdio: ['ignore', 'pipe', 'inherit'] });
const t0 = Date.now();
await new Promise<void>((r) => k.stdout!.once('data', () => r()));
console.log('filled in', Date.now() - t0);
try {
  const st = captureSnapshot([k.pid!], '/tmp/snapbuild/perf.snap', {});
  console.log(st, (st.bytesRead / 2 ** 20 / (st.ms / 1000)).toFixed(0), 'MiB/s');
} finally { k.kill('SIGKILL'); }
