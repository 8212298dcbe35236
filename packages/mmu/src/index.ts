export * from './arch.ts';
export { compareBytes, copyBytes } from './bytes.ts';
export { type CheckOptions, checkMmInvariants } from './check.ts';
export {
  Contents,
  DIGEST_BYTES,
  DIGEST_PREFIX_UNKNOWN,
  fmix32,
  idsWord,
  memcmpBytesRead,
  ZERO_CHECKSUM,
  ZERO_CONTENT,
} from './content.ts';
export * from './fault.ts';
export {
  filemap_get_folio,
  filemap_open,
  filemap_write_folio,
  MappedFile,
  mm_counter_file,
} from './filemap.ts';
export {
  copy_huge_pmd,
  do_huge_pmd_anonymous_page,
  folio_maybe_mapped_shared,
  split_folio,
  split_huge_pmd,
  thp_vma_allowable,
  zap_huge_pmd,
} from './huge_memory.ts';
export {
  khugepaged_do_scan,
  khugepaged_enter_vma,
  khugepaged_exit,
  khugepaged_fork,
  khugepaged_sysfs_write,
  madvise_collapse,
  madvise_collapse_errno,
} from './khugepaged.ts';
export { CpuFbatches, folio_mark_accessed, lru_add_drain_all } from './lru.ts';
export {
  DEFAULT_FAULT_AROUND_BYTES,
  type InterleavePoint,
  Machine,
  type MachineOptions,
  type MmHooks,
  type ThpSettings,
  type VmEvents,
} from './machine.ts';
export {
  free_pgtables,
  handle_mm_fault,
  is_ksm_zero_pte,
  vm_normal_page,
  ZAP_FLAG_DROP_MARKER,
  zap_page_range,
} from './memory.ts';
export {
  type Migration,
  migrate_folio,
  migrate_folio_finish,
  migrate_folio_start,
  migration_entry_wait,
} from './migrate.ts';
export * from './mm.ts';
export * from './mman.ts';
export { do_vmi_munmap, dup_mmap, mmput, vm_mmap_pgoff, vm_munmap } from './mmap.ts';
export { change_protection, do_mprotect_pkey } from './mprotect.ts';
export { page_vma_mapped_pte, page_vma_mapped_walk } from './page_vma_mapped.ts';
export * from './pgtable.ts';
export {
  type DecodedEntry,
  decodeEntry,
  ENTRY_LEVELS,
  type EncodeRequest,
  type EntryKind,
  type EntryLevel,
  encodeEntry,
  maxPhysmemBits,
} from './pgtable_decode.ts';
export * from './physmem.ts';
export {
  anon_vma_prepare,
  folio_add_anon_rmap_pte,
  folio_add_return_large_mapcount,
  folio_maybe_dma_pinned,
  folio_remove_rmap_pte,
  folio_sub_return_large_mapcount,
  folio_try_share_anon_rmap_pte,
  GUP_PIN_COUNTING_BIAS,
  linear_page_index,
  rmap_walk,
  vma_address,
} from './rmap.ts';
export { filemap_remove_folio, ShmemObject } from './shmem.ts';
export { SwapDevice } from './swap.ts';
export { do_user_addr_fault, user_access_pfn } from './uaccess.ts';
export {
  split_vma,
  vm_get_page_prot,
  vma_merge,
  vma_modify_flags,
  vma_set_page_prot,
  vma_split_range,
} from './vma.ts';
export { reclaim_folio, swapcache_delete } from './vmscan.ts';
export { HashedMemory, xxh64Low32 } from './xxh64.ts';
