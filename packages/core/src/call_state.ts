/**
 * Per-call state of a function called once per page (the kernel's on-stack locals: struct
 * folio_walk, struct follow_page_context, a walk's private argument), reused from call to call
 * as the walker reuses its MmWalk objects: a stack, since a fault hook may start another call
 * while one runs. It carries nothing from one call to the next (each user sets what it reads). A
 * fresh object per call would be embedded in V8's optimized code of the per-page loop and, once
 * garbage, deoptimize it: measured as every walk-only unmerge after the first re-optimizing
 * mid-loop, and as follow_page() 7-12% slower.
 */
export class CallState<T> {
  private readonly stack: T[] = [];
  private depth = 0;
  private readonly create: () => T;

  constructor(create: () => T) {
    this.create = create;
  }

  /** The state of a new call; put() it back when the call returns. */
  get(): T {
    if (this.depth === this.stack.length) this.stack.push(this.create());
    return this.stack[this.depth++]!;
  }

  put(): void {
    this.depth--;
  }
}
