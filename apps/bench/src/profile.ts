// Reading V8 CPU profiles (node --cpu-prof) written by `pnpm bench <name> --cpu-prof`: self and
// inclusive time per function (file:line function) and self time per file, so a report can say
// where the time went without opening DevTools.

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  /** 'file:line function' (1-based line; 'file function' when the line is unknown), or a V8
   * pseudo-frame like '(garbage collector)'. */
  where: string;
  selfMs: number;
  /** Time with this function anywhere on the stack (recursion counted once). */
  totalMs: number;
}

export interface ProfileSummary {
  totalMs: number;
  functions: ProfileEntry[];
  files: { file: string; selfMs: number }[];
}

function frameFile(url: string, root: string): string {
  if (url === '') return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith('/') ? relative(root, path) : path;
}

/** Summarise a .cpuprofile; paths are shown relative to `root`. */
export function summarizeProfile(file: string, root: string): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const key = (n: ProfileNode): string => {
    const f = frameFile(n.callFrame.url, root);
    const name = n.callFrame.functionName || '(anonymous)';
    // Line 0 means the loader emitted the module on one line (tsx): the name must do.
    if (f === '') return name;
    return n.callFrame.lineNumber > 0 ? `${f}:${n.callFrame.lineNumber + 1} ${name}` : `${f} ${name}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const files = new Map<string, number>();
  let totalUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    totalUs += dt;
    const leaf = byId.get(p.samples[i]);
    if (leaf === undefined) continue;
    const k = key(leaf);
    self.set(k, (self.get(k) ?? 0) + dt);
    const f = frameFile(leaf.callFrame.url, root) || leaf.callFrame.functionName;
    files.set(f, (files.get(f) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (n === undefined) break;
      const kk = key(n);
      if (seen.has(kk)) continue;
      seen.add(kk);
      total.set(kk, (total.get(kk) ?? 0) + dt);
    }
  }
  const functions = [...self.keys(), ...[...total.keys()].filter((k) => !self.has(k))].map((where) => ({
    where,
    selfMs: (self.get(where) ?? 0) / 1000,
    totalMs: (total.get(where) ?? 0) / 1000,
  }));
  functions.sort((a, b) => b.selfMs - a.selfMs || b.totalMs - a.totalMs);
  return {
    totalMs: totalUs / 1000,
    functions,
    files: [...files.entries()]
      .map(([file, us]) => ({ file, selfMs: us / 1000 }))
      .sort((a, b) => b.selfMs - a.selfMs),
  };
}

/** A plain-text table of the top `n` functions by self time. */
export function formatProfile(s: ProfileSummary, n = 25): string {
  const pct = (ms: number): string => `${((100 * ms) / s.totalMs).toFixed(1).padStart(5)}%`;
  const lines = [`total ${s.totalMs.toFixed(0)} ms sampled`, '  self%  total%  function'];
  for (const f of s.functions.slice(0, n)) lines.push(`  ${pct(f.selfMs)}  ${pct(f.totalMs)}  ${f.where}`);
  lines.push('  self%  file');
  for (const f of s.files.slice(0, 12)) lines.push(`  ${pct(f.selfMs)}  ${f.file}`);
  return lines.join('\n');
}
