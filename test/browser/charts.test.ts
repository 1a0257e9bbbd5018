import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServerWithAdmin, type TestServer } from '../helpers/server.ts';

// The dashboard's charts (uPlot) in Debian's Chromium while players play: a
// patch, then a patch that throws on half its calls and rolls itself back.
// Screenshots go to test-output/browser/; skipped like browser.test.ts where
// there is no Chromium.

const CHROMIUM = process.env.REBIND_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = 'test-output/browser';
const HAVE_BROWSER = existsSync(CHROMIUM);
const TOKEN = 'rebind_charts_browser_token';

const shop = (v: string, broken = false) => `import { client } from '../server/api';
export const buy = client((ctx: unknown, p: { n: number }) => { ${broken ? "if (p.n % 2 === 1) throw new Error('half broken');" : ''} return '${v}'; });
`;

let t: TestServer;
let browser: Browser;
let running = true;
const loops: Array<Promise<void>> = [];
const clients: RebindClient[] = [];

beforeAll(async () => {
  if (!HAVE_BROWSER) return;
  mkdirSync(SHOTS, { recursive: true });
  t = await startServerWithAdmin(TOKEN, { 'logic/shop.ts': shop('v1') }, { pages: true, tickHz: 20 });
  // Players calling at a steady pace, so the lines have something to show.
  for (let i = 0; i < 8; i++) {
    const c = new RebindClient(t.url, { reconnect: false });
    await c.connect();
    await c.join({ name: `p${i}` });
    clients.push(c);
    loops.push(
      (async () => {
        for (let n = 0; running; n++) {
          await c.call('shop.buy', { n }).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
    );
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
}, 60_000);

afterAll(async () => {
  running = false;
  await Promise.all(loops);
  for (const c of clients) c.close();
  await browser?.close();
  await t?.stop();
});

describe.skipIf(!HAVE_BROWSER)('the dashboard charts', () => {
  it('draws calls, errors, p99, tick and players per module version, with markers at a patch and an auto-rollback', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 1100 } })).newPage();
    const errors: Error[] = [];
    page.on('pageerror', (err) => errors.push(err));
    await page.goto(`${t.server.admin!.url.replace(/^ws/, 'http')}/#token=${TOKEN}`);
    await page.waitForSelector('#chart-calls canvas', { timeout: 10_000 });
    await page.waitForTimeout(4000);

    t.project.write('logic/shop.ts', shop('v2'));
    expect((await t.server.host.patch(['shop'], 'cli')).ok).toBe(true);
    await page.waitForFunction(() => document.querySelector('#chart-calls')?.textContent?.includes('shop v2'), null, { timeout: 10_000 });
    await page.waitForTimeout(4000);
    await page.screenshot({ path: `${SHOTS}/6-charts-after-patch.png`, fullPage: true });

    t.project.write('logic/shop.ts', shop('v3', true));
    const patch = await t.server.host.engine.patch({ modules: ['shop'], origin: 'dashboard', verify: { windowMs: 10_000 } });
    expect((await t.server.host.engine.verification(patch.id))!.outcome).toBe('rolled-back');
    await page.waitForFunction(() => document.querySelector('#history')?.textContent?.includes('AUTO-ROLLBACK'), null, { timeout: 10_000 });
    await page.waitForTimeout(4000);
    await page.screenshot({ path: `${SHOTS}/7-charts-auto-rollback.png`, fullPage: true });

    // The rolled-back patch says what decided it, not "verifying".
    const item = page.locator(`#history .record[data-id="${patch.id}"]`);
    expect(await item.textContent()).toMatch(new RegExp(`verification: rolled back by #${patch.id + 1} \\(auto-rollback\\)`));
    expect(await item.textContent()).not.toMatch(/running/);

    const legends = await page.textContent('#chart-calls');
    for (const v of ['shop v1', 'shop v2', 'shop v3', 'shop v4']) expect(legends).toContain(v);
    expect(await page.textContent('#chart-errors')).toContain('shop v3');
    // Tick time and players on charts of their own: players in the tens would flatten a tick of a few ms.
    expect(await page.textContent('#chart-tick')).toContain('tick ms');
    expect(await page.textContent('#chart-tick')).not.toContain('players');
    expect(await page.textContent('#chart-players')).toContain('players');
    expect(await page.locator('#charts canvas').count()).toBeGreaterThanOrEqual(5);

    // A confirmed verification: its figures are not drawn in red, and it is recorded as a confirm.
    t.project.write('logic/shop.ts', shop('v5'));
    const good = await t.server.host.engine.patch({ modules: ['shop'], origin: 'dashboard', verify: { windowMs: 2000 } });
    expect((await t.server.host.engine.verification(good.id))!.outcome).toBe('confirmed');
    const confirm = page.locator(`#history .record[data-id="${good.id + 1}"]`);
    await confirm.waitFor({ timeout: 10_000 });
    expect(await confirm.textContent()).toMatch(/confirmed of patch #\d+ after/);
    const colours = await confirm.locator('div').evaluateAll((els) => els.map((e) => getComputedStyle(e).color));
    expect(colours.filter((c) => c === 'rgb(198, 40, 40)')).toEqual([]);
    await page.waitForTimeout(2500);
    await page.screenshot({ path: `${SHOTS}/7b-charts-confirm.png`, fullPage: true });
    expect(errors).toEqual([]);
    // The page's reads (history, status, series at login) are audited as the dashboard's, not the CLI's.
    const reads = readFileSync(t.server.admin!.audit.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; origin: string }).filter((l) => ['status', 'history', 'series'].includes(l.action));
    expect(reads.map((l) => l.action).sort()).toEqual(['history', 'series', 'status']);
    expect(reads.every((l) => l.origin === 'dashboard')).toBe(true);
  }, 60_000);

  it('an empty verification window is an error on the page, not a silent unverified patch; unticking verify says NOT verified', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 1100 } })).newPage();
    await page.goto(`${t.server.admin!.url.replace(/^ws/, 'http')}/#token=${TOKEN}`);
    await page.waitForSelector('#patch-button');
    await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', null, { timeout: 10_000 });
    expect(await page.textContent('#patch-button')).toBe('patch from disk, verified for 30 s');
    const before = t.server.host.history().length;
    await page.fill('#verify-window', '');
    await page.click('#patch-button');
    expect(await page.textContent('#verify-error')).toMatch(/the verification window must be a duration such as 30s.*untick "verify"/);
    await page.fill('#verify-window', '3000000s');
    await page.click('#patch-button');
    expect(await page.textContent('#verify-error')).toMatch(/must be at most 24h/);
    // Nothing was asked of the server.
    await page.waitForTimeout(500);
    expect(t.server.host.history().length).toBe(before);
    await page.uncheck('#verify-on');
    expect(await page.textContent('#patch-button')).toBe('patch from disk, NOT verified');
    expect(await page.textContent('#verify-error')).toBe('');
    t.project.write('logic/shop.ts', shop('v5b'));
    await page.click('#patch-button');
    await page.waitForFunction(() => document.querySelector('#history')?.textContent?.includes('by dashboard@'), null, { timeout: 10_000 });
    const last = t.server.host.history(1)[0]!;
    expect(last).toMatchObject({ kind: 'patch', origin: 'dashboard', ok: true });
    expect(last.verify).toBeUndefined();
    await page.screenshot({ path: `${SHOTS}/8-dashboard-verify-choice.png`, fullPage: true });

    // A version whose tick throws on every run, its handler fine: rolled back for its hook errors, and the page says so.
    t.project.write('logic/shop.ts', `${shop('v6')}export function tick() { throw new Error('the spawner is broken'); }\n`);
    const ticking = await t.server.host.engine.patch({ modules: ['shop'], origin: 'dashboard', verify: { windowMs: 10_000 } });
    expect((await t.server.host.engine.verification(ticking.id))!.outcome).toBe('rolled-back');
    const rolled = page.locator(`#history .record[data-id="${ticking.id + 1}"]`);
    await rolled.waitFor({ timeout: 10_000 });
    expect(await rolled.textContent()).toMatch(/AUTO-ROLLBACK of patch #\d+ after [\d.]+ s: lifecycle hook errors: 100\.0% of runs/);
    expect(await rolled.textContent()).toMatch(/hooks new: \d+ runs, \d+ errors \(100\.0%\); previous: 0 runs/);
    await page.screenshot({ path: `${SHOTS}/9-dashboard-hook-rollback.png`, fullPage: true });
  }, 60_000);
});
