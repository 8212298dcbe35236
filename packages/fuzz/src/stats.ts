// Figures of a reliability run, accumulated in-process by the property test, the races, the input
// fuzzers and `pnpm fuzz`, and printed (and written into the README) at the end.

export class FuzzStats {
  sequences = 0;
  commands = 0;
  /** Actions that ran with fault injection armed. */
  faultArms = 0;
  /** Allocation calls made to fail. */
  faultsInjected = 0;
  migrations = 0;
  racesScripted = 0;
  inputsFuzzed = 0;
  violations = 0;
  framesLeaked = 0;
  /** Commands executed, by op. */
  byOp: Record<string, number> = {};

  reset(): void {
    Object.assign(this, new FuzzStats());
  }

  /** One line: the README's figures. */
  summary(): string {
    return `${this.sequences} sequences, ${this.commands} commands, ${this.faultsInjected} faults injected (${this.faultArms} armed commands), ${this.migrations} migrations, ${this.racesScripted} races scripted, ${this.inputsFuzzed} inputs fuzzed, ${this.violations} violations, ${this.framesLeaked} frames leaked`;
  }
}

export const stats: FuzzStats = new FuzzStats();
