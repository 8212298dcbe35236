// Test helper: an mm_walk_ops table that records every callback as "kind start-end [depth]".
import { hex } from '@mmsim/core';
import { type MmWalk, type MmWalkOps, mmWalkOps } from '../src/index.ts';

export interface Recorder {
  log: string[];
  ops: MmWalkOps;
}

const fmt = (a: number, b: number): string => `${hex(a)}-${hex(b)}`;

/**
 * Record the callbacks named in `kinds` (all when omitted). `hook` may change the return value or
 * walk.action; it sees the kind, the walk and the range.
 */
export function recorder(
  kinds: string[] = ['pgd', 'p4d', 'pud', 'pmd', 'pte', 'hole', 'test', 'pre', 'post'],
  hook: ((kind: string, walk: MmWalk, addr: number, next: number) => number) | null = null,
  walk_lock = 0,
): Recorder {
  const log: string[] = [];
  const has = (k: string): boolean => kinds.includes(k);
  const entry = (kind: string) => (walk: MmWalk, addr: number, next: number) => {
    log.push(`${kind} ${fmt(addr, next)}${kind === 'pte' && walk.lo === 0 && walk.hi === 0 ? ' none' : ''}`);
    return hook === null ? 0 : hook(kind, walk, addr, next);
  };
  const ops = mmWalkOps({
    pgd_entry: has('pgd') ? entry('pgd') : null,
    p4d_entry: has('p4d') ? entry('p4d') : null,
    pud_entry: has('pud') ? entry('pud') : null,
    pmd_entry: has('pmd') ? entry('pmd') : null,
    pte_entry: has('pte') ? entry('pte') : null,
    pte_hole: has('hole')
      ? (addr, next, depth, walk) => {
          log.push(`hole ${fmt(addr, next)} ${depth}`);
          return hook === null ? 0 : hook('hole', walk, addr, next);
        }
      : null,
    test_walk: has('test')
      ? (addr, next, walk) => {
          log.push(`test ${fmt(addr, next)}`);
          return hook === null ? 0 : hook('test', walk, addr, next);
        }
      : null,
    pre_vma: has('pre')
      ? (start, end, walk) => {
          log.push(`pre ${fmt(start, end)}`);
          return hook === null ? 0 : hook('pre', walk, start, end);
        }
      : null,
    post_vma: has('post')
      ? (walk) => {
          log.push(`post ${fmt(walk.vma!.vm_start, walk.vma!.vm_end)}`);
        }
      : null,
    walk_lock,
  });
  return { log, ops };
}
