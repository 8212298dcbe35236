// /sys/kernel/mm/ksm (mm/ksm.c *_show/*_store, Linux 6.18): reads return the file's text
// (without the newline), writes parse and validate as the kernel does and return 0 or -errno.

import { EBUSY, EINVAL, ENOENT, ERANGE, type KsmProfile } from '@mmsim/core';
import { KSM_RUN_UNMERGE, type Ksm } from './ksm.ts';

export interface KnobInfo {
  name: string;
  writable: boolean;
  help: string;
}

export const KNOBS: KnobInfo[] = [
  {
    name: 'run',
    writable: true,
    help: '0 stop ksmd (merged pages stay), 1 run ksmd, 2 stop and unmerge everything',
  },
  {
    name: 'pages_to_scan',
    writable: true,
    help: 'pages ksmd scans per batch (EINVAL while an advisor is active)',
  },
  { name: 'sleep_millisecs', writable: true, help: 'pause between batches' },
  {
    name: 'max_page_sharing',
    writable: true,
    help: 'max mappings per KSM page; more identical pages form chains of dups (EBUSY while pages are shared)',
  },
  {
    name: 'merge_across_nodes',
    writable: true,
    help: 'merge pages of different NUMA nodes (EBUSY while pages are shared)',
  },
  {
    name: 'use_zero_pages',
    writable: true,
    help: 'merge empty pages with the zero page instead of a KSM page',
  },
  { name: 'smart_scan', writable: true, help: 'skip pages that repeatedly failed to merge' },
  {
    name: 'stable_node_chains_prune_millisecs',
    writable: true,
    help: 'minimum interval between prunes of a chain',
  },
  { name: 'advisor_mode', writable: true, help: '"none" or "scan-time": let ksmd tune pages_to_scan' },
  { name: 'advisor_max_cpu', writable: true, help: 'scan-time advisor: max ksmd CPU percent' },
  {
    name: 'advisor_min_pages_to_scan',
    writable: true,
    help: 'scan-time advisor: lower bound of pages_to_scan',
  },
  {
    name: 'advisor_max_pages_to_scan',
    writable: true,
    help: 'scan-time advisor: upper bound of pages_to_scan',
  },
  {
    name: 'advisor_target_scan_time',
    writable: true,
    help: 'scan-time advisor: target seconds per full scan',
  },
  { name: 'pages_shared', writable: false, help: 'KSM pages in use' },
  { name: 'pages_sharing', writable: false, help: 'further mappings of KSM pages (the saving)' },
  { name: 'pages_unshared', writable: false, help: 'unique pages checked repeatedly (in the unstable tree)' },
  { name: 'pages_volatile', writable: false, help: 'pages changing too fast to be placed in a tree' },
  { name: 'pages_scanned', writable: false, help: 'pages ksmd processed' },
  { name: 'pages_skipped', writable: false, help: 'pages smart scan skipped' },
  { name: 'full_scans', writable: false, help: 'completed full scans (reset by run=2)' },
  {
    name: 'stable_node_chains',
    writable: false,
    help: 'KSM contents that reached max_page_sharing (chains)',
  },
  { name: 'stable_node_dups', writable: false, help: 'KSM pages linked into chains' },
  { name: 'ksm_zero_pages', writable: false, help: 'empty pages KSM mapped to the zero page' },
  {
    name: 'general_profit',
    writable: false,
    help: '(pages_sharing + ksm_zero_pages) * 4096 - rmap_items * 64',
  },
];

/** kstrtouint()-style parse: -EINVAL for junk, -ERANGE beyond `max`. */
function parseUint(v: string, max: number): number {
  const t = v.trim();
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) return -EINVAL;
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n > max) return -ERANGE;
  return n;
}

/** kstrtobool(). */
function parseBool(v: string): number {
  const t = v.trim().toLowerCase();
  if (['1', 'y', 'yes', 'on', 'true'].includes(t) || t.startsWith('y')) return 1;
  if (['0', 'n', 'no', 'off', 'false'].includes(t) || t.startsWith('n')) return 0;
  return -EINVAL;
}

const U32 = 0xffffffff;

/**
 * Whether the machine's kernel has /sys/kernel/mm/ksm/<name> (files added after 6.1: general_profit
 * 6.4, ksm_zero_pages ~6.6, smart_scan and pages_skipped 6.7, the advisor and pages_scanned 6.8).
 * Names that no kernel has are left to the callers.
 */
export function ksmSysfsHas(profile: KsmProfile, name: string): boolean {
  if (name === 'general_profit') return profile.mergeAny;
  if (name === 'ksm_zero_pages') return profile.zeroPages;
  if (name === 'smart_scan' || name === 'pages_skipped') return profile.smartScan;
  if (name === 'pages_scanned' || name.startsWith('advisor_')) return profile.advisor;
  return true;
}

/** Read a KSM sysfs file; undefined when there is no such file. */
export function ksmSysfsRead(ksm: Ksm, name: string): string | undefined {
  if (!ksmSysfsHas(ksm.m.kernel.ksm, name)) return undefined;
  const c = ksm.counters() as unknown as Record<string, number>;
  if (name in c) return String(c[name]);
  switch (name) {
    case 'run':
      return String(ksm.run);
    case 'use_zero_pages':
      return ksm.use_zero_pages ? '1' : '0';
    case 'smart_scan':
      return ksm.smart_scan ? '1' : '0';
    case 'advisor_mode':
      return ksm.advisor_mode === 'none' ? '[none] scan-time' : 'none [scan-time]';
    case 'pages_to_scan':
    case 'sleep_millisecs':
    case 'max_page_sharing':
    case 'merge_across_nodes':
    case 'stable_node_chains_prune_millisecs':
    case 'advisor_max_cpu':
    case 'advisor_min_pages_to_scan':
    case 'advisor_max_pages_to_scan':
    case 'advisor_target_scan_time':
      return String((ksm as unknown as Record<string, number>)[name]);
    default:
      return undefined;
  }
}

/** Write a KSM sysfs file: 0 or -errno (-ENOENT for an unknown or read-only name). */
export function ksmSysfsWrite(ksm: Ksm, name: string, value: string): number {
  if (!ksmSysfsHas(ksm.m.kernel.ksm, name)) return -ENOENT;
  switch (name) {
    case 'run': {
      const v = parseUint(value, U32);
      if (v < 0) return -EINVAL;
      if (v > 2) return -EINVAL;
      if (v !== ksm.run) {
        ksm.run = v;
        if ((v & KSM_RUN_UNMERGE) !== 0) {
          const err = ksm.unmerge_and_remove_all_rmap_items();
          if (err !== 0) {
            ksm.run = 0;
            return err;
          }
        }
      }
      return 0;
    }
    case 'pages_to_scan': {
      if (ksm.advisor_mode !== 'none') return -EINVAL;
      const v = parseUint(value, U32);
      if (v < 0) return -EINVAL;
      ksm.pages_to_scan = v;
      return 0;
    }
    case 'sleep_millisecs':
    case 'stable_node_chains_prune_millisecs': {
      const v = parseUint(value, U32);
      if (v < 0) return -EINVAL;
      (ksm as unknown as Record<string, number>)[name] = v;
      return 0;
    }
    case 'max_page_sharing': {
      const v = parseUint(value, 0x7fffffff);
      if (v < 0) return v;
      if (v < 2) return -EINVAL;
      if (v === ksm.max_page_sharing) return 0;
      if (ksm.pages_shared !== 0 || ksm.remove_all_stable_nodes() !== 0) return -EBUSY;
      ksm.max_page_sharing = v;
      return 0;
    }
    case 'merge_across_nodes': {
      const v = parseUint(value, 2 ** 53);
      if (v < 0) return v;
      if (v > 1) return -EINVAL;
      if (v === ksm.merge_across_nodes) return 0;
      if (ksm.pages_shared !== 0 || ksm.remove_all_stable_nodes() !== 0) return -EBUSY;
      ksm.merge_across_nodes = v;
      return 0;
    }
    case 'use_zero_pages':
    case 'smart_scan': {
      const v = parseBool(value);
      if (v < 0) return -EINVAL;
      if (name === 'use_zero_pages') ksm.use_zero_pages = v === 1;
      else ksm.smart_scan = v === 1;
      return 0;
    }
    case 'advisor_mode': {
      const t = value.trim();
      if (t !== 'none' && t !== 'scan-time') return -EINVAL;
      if (t === ksm.advisor_mode) return 0;
      ksm.advisor_mode = t;
      if (t === 'none') ksm.pages_to_scan = 100;
      else {
        ksm.resetAdvisor();
        ksm.pages_to_scan = ksm.advisor_min_pages_to_scan;
      }
      return 0;
    }
    case 'advisor_max_cpu':
    case 'advisor_min_pages_to_scan':
    case 'advisor_max_pages_to_scan':
    case 'advisor_target_scan_time': {
      const v = parseUint(value, 2 ** 53);
      if (v < 0) return -EINVAL;
      if (name === 'advisor_target_scan_time' && v < 1) return -EINVAL;
      (ksm as unknown as Record<string, number>)[name] = name === 'advisor_max_cpu' ? v % 2 ** 32 : v;
      return 0;
    }
    default:
      return -ENOENT; // no such (writable) file
  }
}
