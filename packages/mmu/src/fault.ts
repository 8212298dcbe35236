// Fault flags and results (include/linux/mm_types.h enum fault_flag, enum vm_fault_reason;
// Linux 6.18: VM_FAULT_WRITE no longer exists — the simulator's 6.0/6.1 profile may report it).

export const FAULT_FLAG_WRITE = 1 << 0;
export const FAULT_FLAG_MKWRITE = 1 << 1;
export const FAULT_FLAG_ALLOW_RETRY = 1 << 2;
export const FAULT_FLAG_RETRY_NOWAIT = 1 << 3;
export const FAULT_FLAG_KILLABLE = 1 << 4;
export const FAULT_FLAG_TRIED = 1 << 5;
export const FAULT_FLAG_USER = 1 << 6;
export const FAULT_FLAG_REMOTE = 1 << 7;
export const FAULT_FLAG_INSTRUCTION = 1 << 8;
export const FAULT_FLAG_INTERRUPTIBLE = 1 << 9;
export const FAULT_FLAG_UNSHARE = 1 << 10;
export const FAULT_FLAG_ORIG_PTE_VALID = 1 << 11;
export const FAULT_FLAG_VMA_LOCK = 1 << 12;

export const VM_FAULT_OOM = 0x000001;
export const VM_FAULT_SIGBUS = 0x000002;
export const VM_FAULT_MAJOR = 0x000004;
/** Linux 6.0/6.1 only (removed by "mm: remove VM_FAULT_WRITE" in 6.2). */
export const VM_FAULT_WRITE = 0x000008;
export const VM_FAULT_HWPOISON = 0x000010;
export const VM_FAULT_HWPOISON_LARGE = 0x000020;
export const VM_FAULT_SIGSEGV = 0x000040;
export const VM_FAULT_NOPAGE = 0x000100;
export const VM_FAULT_LOCKED = 0x000200;
export const VM_FAULT_RETRY = 0x000400;
export const VM_FAULT_FALLBACK = 0x000800;
export const VM_FAULT_DONE_COW = 0x001000;
export const VM_FAULT_NEEDDSYNC = 0x002000;
export const VM_FAULT_COMPLETED = 0x004000;
export const VM_FAULT_ERROR =
  VM_FAULT_OOM |
  VM_FAULT_SIGBUS |
  VM_FAULT_SIGSEGV |
  VM_FAULT_HWPOISON |
  VM_FAULT_HWPOISON_LARGE |
  VM_FAULT_FALLBACK;

/** Render a vm_fault_t for messages ("VM_FAULT_OOM|VM_FAULT_MAJOR"). */
export function vmFaultString(ret: number): string {
  const names: [number, string][] = [
    [VM_FAULT_OOM, 'OOM'],
    [VM_FAULT_SIGBUS, 'SIGBUS'],
    [VM_FAULT_MAJOR, 'MAJOR'],
    [VM_FAULT_WRITE, 'WRITE'],
    [VM_FAULT_SIGSEGV, 'SIGSEGV'],
    [VM_FAULT_NOPAGE, 'NOPAGE'],
    [VM_FAULT_RETRY, 'RETRY'],
    [VM_FAULT_FALLBACK, 'FALLBACK'],
    [VM_FAULT_COMPLETED, 'COMPLETED'],
  ];
  const parts = names.filter(([b]) => (ret & b) !== 0).map(([, n]) => `VM_FAULT_${n}`);
  return parts.length > 0 ? parts.join('|') : '0';
}
