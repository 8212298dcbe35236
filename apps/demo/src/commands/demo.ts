// mmsim demo (the default command, `pnpm start`): the tour of src/tour.ts.

import { checkHostBudget, type HostMemory } from '@mmsim/scenario';
import { hostMemory } from '@mmsim/scenario/node';
import type { Command } from 'commander';
import { examples, intOption, type Runner } from '../command.ts';
import { runTour, TOUR_HOST_BASE_BYTES, TOUR_HOST_BYTES_PER_PAGE } from '../tour.ts';

/** The host guard of the tour: throws HostMemoryError (one line with the numbers) when `pages`
 * per process need more host memory than `host` can give. */
export function checkTourFits(pages: number, host: HostMemory): void {
  checkHostBudget(
    `demo --size ${pages}`,
    TOUR_HOST_BASE_BYTES + pages * TOUR_HOST_BYTES_PER_PAGE,
    host,
    `${TOUR_HOST_BYTES_PER_PAGE / 1024} KiB per page of --size, measured`,
  );
}

export function defineDemo(program: Command, r: Runner): void {
  program
    .command('demo', { isDefault: true })
    .description('the story of break_ksm() on a live simulation (what `pnpm start` runs)')
    .option('--size <pages>', 'pages per process', '2048')
    .option('--json', 'print the data instead of prose')
    .option('--step', 'pause between chapters (press Enter)')
    .option('--wide', 'wider than 80 columns: raw entries and every flag in the tables')
    .addHelpText(
      'after',
      examples([
        ['pnpm start', 'the tour at its default size'],
        ['mmsim demo --size 16384', 'bigger processes: the per-page costs stand out'],
        ['mmsim demo --size 64 --json', 'the numbers only'],
        ['mmsim demo --wide', 'raw page-table and pagemap entries, every flag (wider than 80 columns)'],
      ]),
    )
    .action(async (o: { size: string; json?: boolean; step?: boolean; wide?: boolean }) => {
      const pages = intOption('--size', o.size, 16, 1 << 20);
      checkTourFits(pages, hostMemory());
      await runTour(
        {
          pages,
          json: o.json === true,
          step: o.step === true,
          wide: o.wide === true,
        },
        r.io,
      );
    });
}
