// The virtual clock: jiffies at HZ=1000 (include/linux/jiffies.h). The simulator never reads the
// wall clock; ksmd's sleeps, chain pruning and the advisor all advance or read this clock.

export const HZ = 1000;

export class VirtualClock {
  /** jiffies since the simulated boot. */
  jiffies = 0;

  msecs_to_jiffies(ms: number): number {
    return Math.ceil((ms * HZ) / 1000);
  }

  jiffies_to_msecs(j: number): number {
    return (j * 1000) / HZ;
  }

  /** Advance time by `ms` milliseconds. */
  advanceMs(ms: number): void {
    this.jiffies += this.msecs_to_jiffies(ms);
  }

  /** time_before(a, b): a is earlier than b. */
  time_before(a: number, b: number): boolean {
    return a < b;
  }

  /** Simulated nanoseconds since boot (used where the kernel reads a clock, e.g. the advisor). */
  nowNs(): number {
    return (this.jiffies * 1e9) / HZ;
  }
}
