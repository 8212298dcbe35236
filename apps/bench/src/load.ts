// Loading a benchmark module and checking it has the shape the harness needs.

import type { Benchmark, Variant } from './types.ts';

/** Import a benchmark module (its default export) by URL or path. */
export async function loadBenchmark(module: string | URL): Promise<Benchmark> {
  const mod = (await import(module.toString())) as { default?: unknown };
  const b = mod.default as Partial<Benchmark> | undefined;
  if (
    b === undefined ||
    typeof b !== 'object' ||
    typeof b.name !== 'string' ||
    typeof b.description !== 'string' ||
    typeof b.run !== 'function'
  ) {
    throw new Error(`${module.toString()}: default export is not a Benchmark { name, description, run }`);
  }
  return b as Benchmark;
}

/** The variants a benchmark declares, or the single 'default' one. */
export function variantsOf(b: Benchmark, quick: boolean): Variant[] {
  const vs = b.variants?.({ quick }) ?? [{ id: 'default' }];
  if (vs.length === 0) throw new Error(`benchmark ${b.name}: variants() returned none`);
  const seen = new Set<string>();
  for (const v of vs) {
    if (seen.has(v.id)) throw new Error(`benchmark ${b.name}: duplicate variant '${v.id}'`);
    seen.add(v.id);
  }
  return vs;
}
