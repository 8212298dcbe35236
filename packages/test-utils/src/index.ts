export { type MachineAndProcess, setup } from './machine.ts';
export { pmdAt, pteAt } from './page_table.ts';
export { expectWarn, failOnWarn } from './warn.ts';
