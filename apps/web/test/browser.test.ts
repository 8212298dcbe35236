// The app as a person uses it, in a real browser: Debian's chromium driven by playwright-core,
// against the built site served on 127.0.0.1. One build and one browser for every test. Without
// /usr/bin/chromium the tests skip and say why. Screenshots land in apps/web/screenshots/.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { parseScenario, type Report, runOnSimulator } from '@mmsim/scenario';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_HOST } from '../src/sim.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const APP = join(import.meta.dirname, '..');
const SCENARIOS = join(APP, '..', '..', 'scenarios');
const SHOTS = join(APP, 'screenshots');
/** The tour must run to its end in the browser within this (the bound). */
const TOUR_LIMIT_MS = 2000;
/** Scenarios whose every report the page must show exactly as `mmsim run --json` computes it. */
const COMPARED = [
  'tour',
  'chains-fork',
  'ksm-tests-merge',
  'zero-pages-mixed',
  'guard-regions',
  'thp-zero-chains',
];

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.log(`apps/web browser tests skipped: ${CHROMIUM} not found (apt-get install chromium)`);

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.png': 'image/png',
};

/** A plain static file server: what any static host does, nothing more. */
function serve(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function simulate(name: string): Report {
  const file = `${name}.yaml`;
  return runOnSimulator(parseScenario(readFileSync(join(SCENARIOS, file), 'utf8'), file), {
    host: BROWSER_HOST,
  });
}

describe.skipIf(!haveChromium)('apps/web in chromium', () => {
  let dist = '';
  let profile = '';
  let server: Server;
  let base = '';
  let browser: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    dist = mkdtempSync(join(tmpdir(), 'mmsim-web-'));
    profile = mkdtempSync(join(tmpdir(), 'mmsim-chromium-'));
    await build({ root: APP, logLevel: 'warn', build: { outDir: dist, emptyOutDir: true } });
    server = await serve(dist);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1400, height: 1000 },
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    mkdirSync(SHOTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    rmSync(dist, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  });

  /** Opens a URL of the app and waits until the worker has answered with a machine. */
  async function open(query: string): Promise<void> {
    await page.goto(`${base}${query}`);
    await page.waitForSelector('body[data-step]');
    await page.waitForSelector('.status[data-busy="no"]');
  }

  async function counters(): Promise<Record<string, string>> {
    return page.$$eval('[data-counter]', (els) =>
      Object.fromEntries(els.map((e) => [e.getAttribute('data-counter') as string, e.textContent ?? ''])),
    );
  }

  it('loads with no console error', async () => {
    errors.length = 0;
    await open('');
    expect(await page.textContent('.status')).toContain('tour');
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(SHOTS, 'scenario.png'), fullPage: true });
  });

  for (const name of COMPARED) {
    it(`${name}: the counters on the page equal mmsim run --json at every report`, async () => {
      const report = simulate(name);
      expect(report.reports.length).toBeGreaterThan(0);
      for (const r of report.reports) {
        await open(`?scenario=${name}&at=${encodeURIComponent(r.label)}`);
        const shown = await counters();
        const want: Record<string, string> = {};
        for (const [k, v] of Object.entries(r.ksm)) want[k] = String(v);
        for (const [p, pr] of Object.entries(r.procs)) {
          const { smaps, ...stat } = pr;
          for (const [k, v] of Object.entries(stat)) want[`${p}.${k}`] = String(v);
          for (const [k, v] of Object.entries(smaps)) want[`${p}.smaps.${k}`] = String(v);
        }
        expect(shown, `${name} at ${r.label}`).toEqual(want);
      }
    });
  }

  it('the tour runs to its end in the browser in under 2 s', async () => {
    await open('?scenario=tour');
    const steps = await page.$$eval('.steps [role="option"]', (l) => l.length);
    expect(await page.getAttribute('body', 'data-step')).toBe(String(steps - 1));
    const ms = Number(await page.getAttribute('body', 'data-run-ms'));
    console.log(`tour: ran to its end in ${ms} ms in chromium`);
    expect(ms).toBeLessThan(TOUR_LIMIT_MS);
  });

  it('scenario view: steps by keyboard and mouse, jumps to a report, keeps it in the URL', async () => {
    await open('?scenario=chains-fork&step=0');
    await page.click('#step-next');
    await page.waitForSelector('body[data-step="1"]');
    await page.focus('.steps');
    await page.keyboard.press('ArrowRight');
    await page.waitForSelector('body[data-step="2"]');
    await page.keyboard.press('End');
    const last = (await page.$$eval('.steps [role="option"]', (l) => l.length)) - 1;
    await page.waitForSelector(`body[data-step="${last}"]`);
    await page.selectOption('#jump', 'chained');
    await page.waitForSelector('body[data-step="5"]');
    expect(page.url()).toContain('at=chained');
    await page.click('.steps [role="option"]:nth-child(4)');
    await page.waitForSelector('body[data-step="3"]');
    expect(page.url()).toContain('step=3');
    // Play from the end starts over and moves on by itself; pause stops it.
    await page.keyboard.press('End');
    await page.waitForSelector(`body[data-step="${last}"]`);
    await page.click('#play');
    await page.waitForSelector('body[data-step="0"]');
    await page.waitForSelector('body[data-step="1"]');
    await page.click('#play');
    expect(await page.getAttribute('#play', 'aria-pressed')).toBe('false');
  });

  it('a bad scenario shows its error inline and nothing crashes', async () => {
    errors.length = 0;
    await open('?scenario=chains-fork');
    const text = (await page.inputValue('#scenario-text')).replace('full_scans: 2', 'full_scans: 0');
    await page.fill('#scenario-text', text);
    await page.waitForSelector('#scenario-error.error');
    const msg = await page.textContent('#scenario-error');
    expect(msg).toContain('steps[4].full_scans');
    expect(msg).toContain('expected a number >= 1, found 0');
    await page.screenshot({ path: join(SHOTS, 'scenario-error.png') });
    // Still alive: fix it and the machine runs again; the edit is in the URL.
    await page.fill('#scenario-text', text.replace('full_scans: 0', 'full_scans: 2'));
    await page.waitForSelector('#scenario-error.valid');
    expect(page.url()).toContain('src=');
    await page.fill('#scenario-text', 'name: x\nsteps: [');
    await page.waitForSelector('#scenario-error.error');
    expect(await page.textContent('#scenario-error')).toContain('expected valid YAML');
    // Completion from the JSON Schema: Ctrl+Space on a new step line writes an op.
    await page.fill('#scenario-text', 'name: x\nsteps:\n  - { ');
    await page.waitForSelector('.completion');
    await page.keyboard.press('Control+Space');
    await page.waitForFunction(() =>
      /- \{ op: \w+/.test((document.querySelector('#scenario-text') as HTMLTextAreaElement).value),
    );
    expect(errors).toEqual([]);
  });

  it('address view: a click on a page shows its walk, arrows move it, the tree expands', async () => {
    await open('?scenario=ksm-tests-merge&view=address');
    const grid = page.locator('canvas.pages').first();
    await grid.click({ position: { x: 3, y: 3 } });
    await page.waitForSelector('.walk');
    const rows = await page.$$eval('.walk tbody tr', (r) => r.map((x) => x.textContent ?? ''));
    expect(rows.map((r) => r.slice(0, 3))).toEqual(['pgd', 'pud', 'pmd', 'pte']);
    expect(rows[3]).toContain('4 KiB page');
    expect(await page.textContent('.walk')).toContain('KSM');
    const first = new URL(page.url()).searchParams.get('addr');
    await grid.focus();
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction((a) => new URL(location.href).searchParams.get('addr') !== a, first);
    const next = new URL(page.url()).searchParams.get('addr');
    expect(Number(next) - Number(first)).toBe(4096);
    await page.click('details.pgtable > summary');
    await page.waitForSelector('details.pgtable .tree li');
    await page.screenshot({ path: join(SHOTS, 'address.png'), fullPage: true });
  });

  it('KSM view: the scan chart and the stable tree with its chain and dups', async () => {
    await open('?scenario=chains-fork&at=chained&view=ksm');
    await page.waitForSelector('.ksm-view canvas');
    const tree = await page.textContent('[aria-label="stable tree"]');
    expect(tree).toContain('1 chains');
    expect(tree).toContain('3 dups');
    const summary = page.locator('[aria-label="stable tree"] summary').first();
    await summary.click();
    await summary.focus();
    await page.keyboard.press('Enter');
    await page.screenshot({ path: join(SHOTS, 'ksm.png'), fullPage: true });
  });

  it('break_ksm view: every strategy costed, one animated event by event', async () => {
    await open('?scenario=ksm-tests-merge&view=break');
    await page.waitForSelector('table.numbers tbody tr');
    const strategies = await page.$$eval('table.numbers tbody tr td:first-child', (t) =>
      t.map((x) => x.textContent),
    );
    expect(strategies).toEqual([
      'follow_page',
      'walk_pud_pmd',
      'walk_pmd',
      'folio_walk',
      'range_walk',
      'walk_fault',
    ]);
    // follow_page looks each page up once; the 2022 walkers walk twice per page.
    const cost = async (s: string, k: string) =>
      Number(await page.textContent(`[data-counter="break_ksm.${s}.${k}_per_page"]`));
    expect(await cost('follow_page', 'followPage')).toBeGreaterThan(0);
    expect(await cost('walk_pmd', 'walks')).toBeGreaterThan(await cost('follow_page', 'walks'));
    await page.click('#anim-step');
    await page.waitForSelector('[data-frame="1"]');
    await page.focus('#anim-step');
    await page.keyboard.press('ArrowRight');
    await page.waitForSelector('[data-frame="2"]');
    expect(await page.$$eval('.events li', (l) => l.length)).toBe(2);
    await page.selectOption('#strategy', 'walk_pmd');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('strategy') === 'walk_pmd');
    await page.waitForSelector('table.numbers tbody tr');
    await page.click('text=to the end');
    expect(await page.textContent('.events')).toContain('mm_walk_ops callback');
    await page.screenshot({ path: join(SHOTS, 'break-ksm.png'), fullPage: true });
  });

  it('bench view: opens a bench JSON, bars coloured by engine, no label cut', async () => {
    await open('?view=bench');
    await page.setInputFiles('#bench-file', join(APP, 'test', 'fixtures', 'unmerge.json'));
    await page.waitForSelector('[aria-label="bench unmerge"] canvas');
    // The chart sized its label axis to the widest (wrapped) label: the canvas is as wide as the
    // panel, and the long kernel label fits its lines.
    const box = await page.locator('[aria-label="bench unmerge"] canvas').boundingBox();
    expect(box?.height).toBeGreaterThan(250);
    await page.screenshot({ path: join(SHOTS, 'bench.png'), fullPage: true });
    await page.setInputFiles('#bench-file', join(SCENARIOS, '..', 'package.json'));
    await page.waitForSelector('.bench-view .error');
    expect(await page.textContent('.bench-view .error')).toContain('not a bench report');
  });
});
