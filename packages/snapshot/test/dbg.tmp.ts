import { captureSnapshot, readSnapshot, restoreSnapshot, PAGE } from '@mmsim/snapshot';
import { smaps } from '@mmsim/proc';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
const k = spawn('python3', ['-c', 'import ctypes,os; ctypes.CDLL(None).prctl(67,1,0,0,0); os.execv("/tmp/snapbuild/pages", ["pages","8"])'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 300));
try {
  captureSnapshot([k.pid!], '/tmp/snapbuild/d.snap', { withContents: true, keepStopped: true });
  const real = readFileSync(`/proc/${k.pid}/smaps`, 'latin1');
  const realAnon = new Map<number, number>();
  let cur = 0;
  for (const l of real.split('\n')) { const m = /^([0-9a-f]+)-/.exec(l); if (m) cur = parseInt(m[1], 16); const a = /^Anonymous:\s+(\d+)/.exec(l); if (a) realAnon.set(cur, +a[1]); }
  const snap = readSnapshot('/tmp/snapbuild/d.snap');
  const ctx = restoreSnapshot(snap, 'x');
  const p = ctx.procs.get(String(k.pid))!;
  const sim = new Map<number, number>();
  for (const e of smaps(p.mm)) sim.set(e.vma.vm_start, e.fields.Anonymous);
  for (const v of snap.meta.processes[0].vmas) {
    let anon = 0, flagsSeen = new Set<number>();
    for (let i = 0; i < (v.end - v.start) / 4096; i++) { const f = snap.pageFlags[v.firstPage + i]; if (f & PAGE.ANON) anon++; if (f & PAGE.PRESENT) flagsSeen.add(f); }
    console.log(v.start.toString(16), v.name, 'real', realAnon.get(v.start), 'snapAnon', anon * 4, 'sim', sim.get(v.start), [...flagsSeen].map((x) => x.toString(16)).join(','));
  }
} finally { k.kill('SIGKILL'); }
