import { readSnapshot, restoreSnapshot, PAGE } from '@mmsim/snapshot';
import { smaps } from '@mmsim/proc';
const snap = readSnapshot('/tmp/snapbuild/c.snap');
const ctx = restoreSnapshot(snap, 'x');
console.log(snap.meta.ksm, snap.meta.thp, ctx.skipped);
for (const sp of snap.meta.processes) {
  const p = ctx.procs.get(String(sp.pid))!;
  const sim = new Map<number, number>();
  for (const e of smaps(p.mm)) sim.set(e.vma.vm_start, e.fields.Anonymous);
  for (const v of sp.vmas) {
    let anon = 0; const fs = new Set<number>();
    for (let i = 0; i < (v.end - v.start) / 4096; i++) { const f = snap.pageFlags[v.firstPage + i]; if (f & PAGE.ANON) anon++; if (f & PAGE.PRESENT) fs.add(f); }
    console.log(v.start.toString(16), v.name, 'snapAnon', anon * 4, 'sim', sim.get(v.start), v.vmFlags.join(' '), [...fs].map((x) => x.toString(16)).join(','));
  }
  break;
}
