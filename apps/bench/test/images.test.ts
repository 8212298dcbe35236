// The scale workload (`pnpm bench images`): its scenario is the recorded, kernel-checked
// scenarios/scale-images.yaml at that file's shape, and its counters formula gives the issue's
// numbers at 256 GiB and the simulator's (and the kernel's) at 64 MiB.

import { join } from 'node:path';
import { type Ksm, RMAP_ITEM_HOST_BYTES, UNSTABLE_NODE_HOST_BYTES } from '@mmsim/ksm';
import { runOnSimulator, type SimulatorContext } from '@mmsim/scenario';
import { hostMemory, loadRecordingFor, loadScenario } from '@mmsim/scenario/node';
import { describe, expect, it } from 'vitest';
import {
  expectedCounters,
  type ImagesShape,
  imagesScenario,
  imagesShape,
  memoryBudget,
} from '../src/benchmarks/images.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const SMALL_FILE = join(root, 'scenarios', 'scale-images.yaml');
/** scenarios/scale-images.yaml: 4 guests of 4096 pages, 256 image contents, max_page_sharing 16. */
const SMALL: ImagesShape = { processes: 4, pages: 4096, imagePages: 3584, ids: 256, maxPageSharing: 16 };

describe('the images workload', () => {
  it('at 256 GiB: 64 guests of 4 GiB and the counters the issue derives', () => {
    const shape = imagesShape(256);
    expect(shape).toEqual({
      processes: 64,
      pages: 1048576,
      imagePages: 917504,
      ids: 65536,
      maxPageSharing: 256,
    });
    expect(expectedCounters(shape)).toEqual({
      pages_shared: 262144,
      pages_sharing: 58458112,
      pages_unshared: 8388608,
      pages_volatile: 0,
      stable_node_chains: 65536,
      stable_node_dups: 262144,
    });
    // Below one chain: one dup per content, no chains.
    expect(expectedCounters(imagesShape(16))).toMatchObject({ stable_node_chains: 0, stable_node_dups: 0 });
    expect(imagesShape(2)).toMatchObject({ processes: 1, pages: 524288, imagePages: 458752 });
  });

  it('a remainder of one page per content stays unshared (one dup fewer)', () => {
    // 513 pages of one content at max_page_sharing 256: 256 + 256 + 1, as scenarios/chains-mps256.yaml.
    const shape: ImagesShape = { processes: 1, pages: 600, imagePages: 513, ids: 1, maxPageSharing: 256 };
    expect(expectedCounters(shape)).toEqual({
      pages_shared: 2,
      pages_sharing: 510,
      pages_unshared: 87 + 1,
      pages_volatile: 0,
      stable_node_chains: 1,
      stable_node_dups: 2,
    });
  });

  it('is scenarios/scale-images.yaml at its shape, whose recorded kernel answer is the formula', () => {
    const loaded = loadScenario(SMALL_FILE);
    const file = loaded.scenario;
    const gen = imagesScenario(SMALL).scenario;
    expect(gen.ksm).toEqual(file.ksm);
    // The file converges and reports after the bench's steps; the bench runs ksmd itself.
    expect(file.steps.slice(0, gen.steps.length)).toEqual(gen.steps);
    expect(file.steps.slice(gen.steps.length).map((s) => s.op)).toEqual(['ksm_converge', 'report', 'expect']);
    expect(loadRecordingFor(loaded).report.reports[0]?.ksm).toMatchObject(expectedCounters(SMALL));
  });

  it('converges on the simulator to the formula, and its memory budget accounts every structure', () => {
    let sim: SimulatorContext | undefined;
    runOnSimulator(imagesScenario(SMALL), {
      host: hostMemory(),
      contentEstimate: 'simulator',
      afterStep: (c) => {
        sim = c;
      },
    });
    const ksm: Ksm = sim!.ksm;
    ksm.converge();
    expect(ksm.counters()).toMatchObject(expectedCounters(SMALL));
    const budget = Object.fromEntries(memoryBudget(sim!.machine, ksm).map((b) => [b.name, b.value]));
    // 4 x 4096 pages: 4 x 8 PTE tables + 4 x (PMD + PUD) + the PGD of 4 mms at least.
    expect(budget['page tables (PTE and upper tables, 4 KiB each)']).toBeGreaterThanOrEqual(4 * 11 * 4096);
    // RMAP_ITEM_HOST_BYTES per item, reserved for the 16384 items of the first full scan.
    expect(budget['rmap_items (typed arrays, capacity)']).toBe((4 * 4096 + 1) * RMAP_ITEM_HOST_BYTES);
    // Only the unique pages stay in the unstable tree; 256 contents x 4 dups + 256 chain heads.
    expect(budget['unstable-tree rb nodes (RbArena records)']).toBeGreaterThanOrEqual(4 * 512);
    expect(budget['unstable-tree rb nodes (RbArena, capacity)']).toBeGreaterThanOrEqual(
      ((budget['unstable-tree rb nodes (RbArena records)']! + 1) * UNSTABLE_NODE_HOST_BYTES) / 2,
    );
    expect(budget['stable nodes (JS objects: KSM pages, chain heads)']).toBe(1024 + 256);
  });
});
