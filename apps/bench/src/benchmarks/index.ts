// Every benchmark `pnpm bench` knows, by CLI name. Add a line here for a new benchmark module
// (its default export is a Benchmark whose `name` equals the key).

export const benchmarkModules: Record<string, URL> = {
  fault: new URL('./fault.ts', import.meta.url),
  unmerge: new URL('./unmerge.ts', import.meta.url),
  scan: new URL('./scan.ts', import.meta.url),
  walk: new URL('./walk.ts', import.meta.url),
  sparse: new URL('./sparse.ts', import.meta.url),
  scale: new URL('./scale.ts', import.meta.url),
  images: new URL('./images.ts', import.meta.url),
  soak: new URL('./soak.ts', import.meta.url),
  snapshot: new URL('./snapshot.ts', import.meta.url),
};
