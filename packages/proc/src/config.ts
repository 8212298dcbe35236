// The kernel configuration the /proc views depend on. mmu models soft-dirty tracking
// (VM_SOFTDIRTY, _PAGE_SOFT_DIRTY), as a CONFIG_MEM_SOFT_DIRTY=y distribution kernel has it; the
// project machines' 6.18 build has it off, so the live-kernel comparison reads /proc/config.gz.

/** Build options and reader rights that change what the views show. */
export interface ProcConfig {
  /**
   * CONFIG_MEM_SOFT_DIRTY: pagemap bit 55 from soft-dirty PTEs and VM_SOFTDIRTY VMAs, and "sd" in
   * smaps VmFlags. Without it VM_SOFTDIRTY is 0 and pte_soft_dirty() is false.
   */
  readonly memSoftDirty: boolean;
  /** arch_pkeys_enabled() (x86 with PKU): smaps prints "ProtectionKey:" (mmsim has key 0 only). */
  readonly protectionKeys: boolean;
  /** The reader has CAP_SYS_ADMIN: pagemap shows PFNs and swap type/offset (0 otherwise). */
  readonly showPfn: boolean;
}

export const DEFAULT_PROC_CONFIG: ProcConfig = { memSoftDirty: true, protectionKeys: false, showPfn: true };
