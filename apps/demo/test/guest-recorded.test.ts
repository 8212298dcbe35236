// The simulator, imitating each guest kernel, against what that kernel answered
// (scenarios/expected/<kernel>/NAME.json, recorded with `mmsim kernel --kernel K --record`): offline,
// no root or QEMU needed. Scenarios whose behaviour mmsim does not model for that kernel yet are
// listed with the reason; the list is checked too (a listed scenario must still differ), so it
// shrinks as the profiles grow.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kernelProfile } from '@mmsim/core';
import { compareReports, type Report, reportSchema, runOnSimulator } from '@mmsim/scenario';
import { hostMemory, loadScenario } from '@mmsim/scenario/node';
import { describe, expect, it } from 'vitest';
import { GUEST_KERNELS } from '../src/guest/kernels.ts';
import { root } from './helpers.ts';

/** The guests write a scenario's files to their /tmp, a tmpfs: the file's pages are shmem folios,
 * which reclaim without swap redirties and keeps unmarked (shmem_writeout(), then pageout() clears
 * PG_reclaim), so fault-around maps them again; the model's files are regular files (the host's
 * ext4), whose dirty pages reclaim marks PG_reclaim. A difference of the guests' filesystem, not
 * of their kernels. */
const TMPFS_FILES = "the guest's files are on tmpfs (shmem pages: no PG_reclaim after MADV_PAGEOUT)";

/** What each kernel does that the simulator's profile of it does not model yet. */
const NOT_MODELLED: Record<string, Record<string, string>> = {
  '6.1': { 'file-private-pageout': TMPFS_FILES },
  '6.12': { 'file-private-pageout': TMPFS_FILES },
  '6.12.95': { 'file-private-pageout': TMPFS_FILES },
};

function recordedReport(path: string): Report {
  const rec = JSON.parse(readFileSync(path, 'utf8')) as { report: unknown };
  return reportSchema.parse(rec.report) as Report;
}

for (const spec of GUEST_KERNELS) {
  const dir = join(root, 'scenarios', 'expected', spec.name);
  if (!existsSync(dir)) continue;
  const known = NOT_MODELLED[spec.profile] ?? {};
  describe(`the simulator as ${spec.profile} against Linux ${spec.name}'s recorded answers`, () => {
    for (const f of readdirSync(dir).sort()) {
      const name = f.replace(/\.json$/, '');
      const why = known[name];
      it(`${name}${why === undefined ? '' : ` (differs: ${why})`}`, () => {
        const loaded = loadScenario(join(root, 'scenarios', `${name}.yaml`));
        const sim = runOnSimulator(loaded, { host: hostMemory(), kernel: kernelProfile(spec.profile) });
        const diff = compareReports(sim, recordedReport(join(dir, f)));
        expect(diff.equal).toBe(why === undefined);
      });
    }
  });
}
