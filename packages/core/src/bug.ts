// BUG()/VM_BUG_ON()/WARN_ON() (include/asm-generic/bug.h, include/linux/mmdebug.h).
// An invariant violation throws KernelBug with a state dump; WARN_ON counts, and tests register a
// handler that fails them.

/** A kernel invariant was violated: the simulator's equivalent of an oops. */
export class KernelBug extends Error {
  readonly dump: string;
  constructor(message: string, dump = '') {
    super(dump ? `kernel BUG: ${message}\n${dump}` : `kernel BUG: ${message}`);
    this.name = 'KernelBug';
    this.dump = dump;
  }
}

/** BUG(): unconditional. `dump` is called lazily to describe the offending state. */
export function BUG(message: string, dump?: () => string): never {
  throw new KernelBug(message, dump ? dump() : '');
}

/** VM_BUG_ON(cond): BUG when `cond` holds. */
export function VM_BUG_ON(cond: boolean, message: string, dump?: () => string): void {
  if (cond) BUG(message, dump);
}

type WarnHandler = (message: string) => void;

const warnState = { count: 0, handler: null as WarnHandler | null, last: '' };

/** WARN_ON(cond): counts the warning and reports it to the registered handler; returns cond. */
export function WARN_ON(cond: boolean, message = 'WARN_ON'): boolean {
  if (cond) {
    warnState.count++;
    warnState.last = message;
    if (warnState.handler !== null) warnState.handler(message);
  }
  return cond;
}

/** WARN_ON_ONCE(cond): as WARN_ON; the simulator reports every occurrence (tests want them all). */
export const WARN_ON_ONCE: (cond: boolean, message?: string) => boolean = WARN_ON;

/** How many warnings fired since start (or the last reset). */
export function warnCount(): number {
  return warnState.count;
}

/** The message of the last warning. */
export function lastWarning(): string {
  return warnState.last;
}

/** Install a handler called on every warning (tests throw from it); null removes it. */
export function setWarnHandler(handler: WarnHandler | null): void {
  warnState.handler = handler;
}

export function resetWarnings(): void {
  warnState.count = 0;
  warnState.last = '';
}
