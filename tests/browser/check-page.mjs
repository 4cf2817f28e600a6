// Loads a rendered evidence page (`audit-grants evidence T --format html`) in
// headless Chromium and checks what an auditor will see: every section is
// there and visible, the tables hold the rows the pack has, the page asks the
// network for nothing and logs no error. Takes a full-page screenshot.
//
//   node check-page.mjs PAGE.html OUT.png [--expect-rows N] [--expect-denied M] [--print PRINT.png]
//
// --expect-rows N     the first `.activity-table` has N body rows
// --expect-denied M   the first `.denied-table` has M body rows
// --print PRINT.png   also check the page printed (print media, A4 width) and screenshot it
//
// One line per check, then `browser-check: N passed, M failed`; exit 1 on any
// failure, 2 on bad usage. The browser is the system's (CHROMIUM, default
// /usr/bin/chromium); Playwright's own browser downloads are never used.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const SECTIONS = ['summary', 'approval', 'granted', 'timeline', 'activity', 'removal'];
const VIEWPORT = { width: 1280, height: 900 };
// An A4 page's printable width at 96 dpi, with 12 mm margins.
const PRINT_VIEWPORT = { width: 704, height: 900 };

// Tables, lists and code blocks that stick out of their section (nothing may be cut off).
function overflowing(page) {
  return page.evaluate(() => {
    const out = [];
    for (const section of document.querySelectorAll('main section')) {
      const right = section.getBoundingClientRect().right;
      for (const el of section.querySelectorAll('table, dl, pre, ol, ul, .cards')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > right + 1) {
          out.push(`#${section.id} ${el.tagName.toLowerCase()}.${el.className || '-'} by ${Math.round(r.right - right)}px`);
        }
      }
    }
    return out;
  });
}

function usage(message) {
  if (message) console.error(message);
  console.error(
    'usage: check-page.mjs PAGE.html OUT.png [--expect-rows N] [--expect-denied M] [--print PRINT.png]',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const positional = [];
  const options = { expectRows: null, expectDenied: null, print: null };
  const count = (flag, raw) => {
    if (raw === undefined || !/^\d+$/.test(raw)) usage(`${flag} needs a whole number`);
    return Number(raw);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--expect-rows') options.expectRows = count(arg, argv[++i]);
    else if (arg === '--expect-denied') options.expectDenied = count(arg, argv[++i]);
    else if (arg === '--print') {
      options.print = argv[++i];
      if (!options.print) usage('--print needs a file');
    } else if (arg.startsWith('--')) usage(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length !== 2) usage();
  return { page: resolve(positional[0]), out: resolve(positional[1]), ...options };
}

const args = parseArgs(process.argv.slice(2));
if (!existsSync(args.page)) usage(`no such page: ${args.page}`);
const pageUrl = pathToFileURL(args.page).href;

let passed = 0;
let failed = 0;
function check(ok, what, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ` (${detail})` : ''}`);
}

function finish() {
  console.log(`browser-check: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
} catch (e) {
  check(false, 'chromium starts', String(e.message ?? e).split('\n')[0]);
  finish();
}

try {
  const context = await browser.newContext({ viewport: VIEWPORT, serviceWorkers: 'block' });
  const page = await context.newPage();

  // Anything but the page itself is a request the page must not make: it is
  // recorded and refused, whatever its scheme.
  const foreign = new Set();
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url === pageUrl) return route.continue();
    foreign.add(url);
    return route.abort('blockedbyclient');
  });
  // Requests that bypass routing (none expected) are seen here.
  page.on('request', (request) => {
    const url = request.url();
    if (url !== pageUrl && !url.startsWith('data:')) foreign.add(url);
  });
  const consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));

  const response = await page.goto(pageUrl, { waitUntil: 'load', timeout: 30_000 });
  check(response === null || response.ok(), 'page loads', pageUrl);

  const mainTicket = await page.locator('main').first().getAttribute('data-ticket');
  check(Boolean(mainTicket), '<main> carries data-ticket', mainTicket ?? 'missing');

  for (const id of SECTIONS) {
    const section = page.locator(`section#${id}`);
    const n = await section.count();
    if (n !== 1) {
      check(false, `section #${id} present once`, `found ${n}`);
      continue;
    }
    const visible = await section.isVisible();
    const box = await section.boundingBox();
    const sized = box !== null && box.width > 0 && box.height > 0;
    check(
      visible && sized,
      `section #${id} visible`,
      box ? `${Math.round(box.width)}x${Math.round(box.height)} at y=${Math.round(box.y)}` : 'no box',
    );
  }

  const bodyRows = async (selector) => {
    const table = page.locator(selector).first();
    if ((await table.count()) === 0) return null;
    return table.locator(':scope > tbody > tr').count();
  };
  if (args.expectRows !== null) {
    const rows = await bodyRows('table.activity-table');
    check(
      rows === args.expectRows,
      `first .activity-table has ${args.expectRows} body rows`,
      rows === null ? 'no such table' : `found ${rows}`,
    );
  }
  if (args.expectDenied !== null) {
    const rows = await bodyRows('table.denied-table');
    check(
      rows === args.expectDenied,
      `first .denied-table has ${args.expectDenied} body rows`,
      rows === null ? 'no such table' : `found ${rows}`,
    );
  }

  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= VIEWPORT.width, `page fits ${VIEWPORT.width}px wide`, `scrollWidth ${width}`);
  const sticking = await overflowing(page);
  check(sticking.length === 0, 'every table and list fits in its section', sticking.join('; ') || 'none');

  await page.screenshot({ path: args.out, fullPage: true });
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  check(existsSync(args.out), 'full-page screenshot written', `${args.out}, ${VIEWPORT.width}x${height}`);

  if (args.print) {
    await page.setViewportSize(PRINT_VIEWPORT);
    await page.emulateMedia({ media: 'print' });
    const printWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    const printSticking = await overflowing(page);
    check(
      printWidth <= PRINT_VIEWPORT.width && printSticking.length === 0,
      `printed, everything fits an A4 page (${PRINT_VIEWPORT.width}px)`,
      printSticking.join('; ') || `scrollWidth ${printWidth}`,
    );
    await page.screenshot({ path: args.print, fullPage: true });
    check(existsSync(args.print), 'print-media screenshot written', args.print);
  }

  check(foreign.size === 0, 'no network request but the page itself', [...foreign].join(', ') || 'none');
  check(consoleErrors.length === 0, 'no console errors', consoleErrors.join(' | ') || 'none');
} catch (e) {
  check(false, 'browser session', String(e.message ?? e).split('\n')[0]);
} finally {
  await browser.close();
}
finish();
