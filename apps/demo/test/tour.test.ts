// The tour fits 80 columns (unless --wide), explains every kernel term where it first appears,
// and shows counters, not a timing that one cold run would make misleading.
import { describe, expect, it } from 'vitest';
import { GLOSSARY, TOUR_COLUMNS, wrap } from '../src/tour.ts';
import { mmsim } from './helpers.ts';

const tour = await mmsim(['demo']);
const wide = await mmsim(['demo', '--wide', '--size', '64']);

/** The tour split at its chapter headings (a title line, then a line of dashes). */
function chapters(text: string): string[] {
  return text.split(/\n(?=[^\n]+\n-+\n)/);
}

describe('the tour', () => {
  it('runs', () => {
    expect(tour.code).toBe(0);
    expect(tour.err).toBe('');
  });

  it(`fits ${TOUR_COLUMNS} columns by default; --wide shows the raw entries and every flag`, () => {
    const long = tour.out.split('\n').filter((l) => l.length > TOUR_COLUMNS);
    expect(long).toEqual([]);
    expect(wide.out).toMatch(/^page +proc +PTE +bits +PFN +pagemap +kpageflags$/m);
    expect(wide.out).toContain('UPTODATE|LRU|MMAP|ANON|SWAPBACKED|OWNER_2');
    expect(wide.out.split('\n').some((l) => l.length > TOUR_COLUMNS)).toBe(true);
  });

  it('explains each kernel term in the chapter where it first appears', () => {
    const parts = chapters(tour.out);
    expect(parts.length).toBe(8);
    for (const term of Object.keys(GLOSSARY)) {
      const re = new RegExp(`(^|[^\\w-])${term.replace(/[()]/g, '\\$&')}($|[^\\w-])`);
      const first = parts.findIndex((p) => re.test(p));
      expect(first, `${term} is never shown`).toBeGreaterThanOrEqual(0);
      expect(parts[first], `${term} is not explained where it first appears`).toContain(`  ${term}: `);
    }
  });

  it('shows per-page counters for every strategy and sends the reader to the bench for time', () => {
    expect(tour.out).toMatch(/^strategy +kernel +walks +lookups +callbacks +PMDs +PTEs +faults +copies$/m);
    expect(tour.out).toMatch(/^follow_page +6\.0\/6\.1 +0 +1 +0 +1 +1 +0\.50 +0\.50$/m);
    expect(tour.out).not.toMatch(/\bms\b/);
    expect(tour.out).toContain('pnpm bench unmerge');
  });

  it('says that mmsim verify needs root and the live kernel', () => {
    expect(tour.out).toMatch(
      /pnpm mmsim verify scenarios\/chains-fork\.yaml \(needs root and the live\s+kernel/,
    );
  });
});

describe('wrap', () => {
  it('fills words to the width, with a first-line prefix and an indent', () => {
    expect(wrap('aa bb cc dd', 5)).toBe('aa bb\ncc dd');
    expect(wrap('aa bb cc', 6, '  ', '    ')).toBe('  aa\n    bb\n    cc');
    expect(wrap('averyveryverylongword x', 5)).toBe('averyveryverylongword\nx');
  });
});
