import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GameServer } from '../../server/server.ts';
import { demoProject } from '../helpers/demo.ts';
import { waitFor, type TempProject } from '../helpers/project.ts';

// The demo and the dashboard in Debian's Chromium, headless, driven by
// playwright-core. Screenshots go to test-output/browser/.

const CHROMIUM = process.env.REBIND_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = 'test-output/browser';
// A machine without a browser still passes `npm test`; CI sets REBIND_REQUIRE_BROWSER=1 so that a
// missing browser fails there instead of silently skipping the suite.
const HAVE_BROWSER = existsSync(CHROMIUM);
if (!HAVE_BROWSER && process.env.REBIND_REQUIRE_BROWSER === '1') {
  throw new Error(`REBIND_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set REBIND_CHROMIUM`);
}
if (!HAVE_BROWSER) {
  console.warn(`browser tests skipped: no Chromium at ${CHROMIUM}. To run them: apt-get install chromium (or set REBIND_CHROMIUM to a Chromium binary), then npm test`);
}

let project: TempProject;
let server: GameServer;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!HAVE_BROWSER) return;
  mkdirSync(SHOTS, { recursive: true });
  project = demoProject();
  // Two pages watch each other from across the arena: everyone sees everyone, until the last test patches the radius in.
  project.write('logic/lib/rules.ts', readFileSync(project.path('logic/lib/rules.ts'), 'utf8').replace(/export const VIEW_RADIUS = \d+;/, 'export const VIEW_RADIUS = 0;'));
  server = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1', adminPort: 0, dataDir: project.path('data'), pages: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);
afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await server?.stop();
  project?.cleanup();
});

async function playerPage(name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1160, height: 700 } });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => {
    throw err;
  });
  await page.goto(server.pageUrl!);
  await page.fill('#name', name);
  await page.click('#join-form button');
  await page.waitForFunction(() => (globalThis as any).rebindDemo.client.state('arena', 'players') !== undefined);
  await page.evaluate(() => ((globalThis as any).loadedOnce = true));
  return page;
}

/** Where `who` is, as `page` sees it (its own replica of the room). */
function positionOn(page: Page, who: string): Promise<{ x: number; y: number; online: boolean }> {
  return page.evaluate((id) => (globalThis as any).rebindDemo.client.state('arena', 'players')[id], who);
}

/** Holds a key for `ms` on `mover` and returns how far `who` moved as `watcher` saw it. */
async function walk(mover: Page, watcher: Page, key: string, ms: number): Promise<number> {
  const before = await positionOn(watcher, 'p-ann');
  await mover.keyboard.down(key);
  await mover.waitForTimeout(ms);
  await mover.keyboard.up(key);
  await watcher.waitForTimeout(250);
  const after = await positionOn(watcher, 'p-ann');
  return Math.hypot(after.x - before.x, after.y - before.y);
}

async function badge(page: Page, module: string): Promise<string> {
  return (await page.textContent(`#versions [data-module="${module}"]`)) ?? '';
}

describe.skipIf(!HAVE_BROWSER)('the demo in a real browser', () => {
  let ann: Page;
  let bob: Page;
  let fastWalk = 0;

  it('shows two players each other moving', async () => {
    ann = await playerPage('ann');
    bob = await playerPage('bob');
    server.host.call('arena.place', { player: 'p-ann', x: 100, y: 300 });
    await waitFor(async () => (await positionOn(bob, 'p-ann')).x === 100, 3000, 'bob to see ann placed');
    const moved = await walk(ann, bob, 'ArrowRight', 500);
    expect(moved).toBeGreaterThan(50);
    expect((await positionOn(ann, 'p-bob')).online).toBe(true);
    await ann.screenshot({ path: `${SHOTS}/1-ann.png` });
    await bob.screenshot({ path: `${SHOTS}/1-bob.png` });
  });

  it('changes what both pages show when movement speed is patched, without a reload', async () => {
    server.host.call('arena.place', { player: 'p-ann', x: 100, y: 300 });
    const slow = await walk(ann, bob, 'ArrowRight', 500);
    expect(await badge(bob, 'arena')).toContain('arena v1');
    const rules = project.path('logic/lib/rules.ts');
    project.write('logic/lib/rules.ts', readFileSync(rules, 'utf8').replace('export const SPEED = 200;', 'export const SPEED = 600;'));
    expect((await server.host.patch()).ok).toBe(true);
    await waitFor(async () => (await badge(ann, 'arena')).includes('arena v2') && (await badge(bob, 'arena')).includes('arena v2'), 3000, 'both badges to show arena v2');
    server.host.call('arena.place', { player: 'p-ann', x: 100, y: 300 });
    await bob.waitForTimeout(200);
    const fast = await walk(ann, bob, 'ArrowRight', 500);
    expect(fast).toBeGreaterThan(slow * 2);
    fastWalk = fast;
    // Still the same pages: nothing reloaded.
    expect(await ann.evaluate(() => (globalThis as any).loadedOnce)).toBe(true);
    expect(await bob.evaluate(() => (globalThis as any).loadedOnce)).toBe(true);
    await ann.screenshot({ path: `${SHOTS}/2-ann-after-patch.png` });
    await bob.screenshot({ path: `${SHOTS}/2-bob-after-patch.png` });
  });

  it('resumes the same player after the connection is cut for a few seconds', async () => {
    const context = ann.context();
    await context.setOffline(true);
    expect(server.gateway.drop('p-ann')).toBe(true); // the server cuts the TCP connection
    await waitFor(async () => ((await ann.textContent('#status')) ?? '').includes('reconnecting'), 3000, 'the page to notice');
    await waitFor(async () => !(await positionOn(bob, 'p-ann')).online, 3000, 'bob to see ann drop');
    await ann.waitForTimeout(3000);
    await ann.screenshot({ path: `${SHOTS}/3-ann-offline.png` });
    await context.setOffline(false);
    await waitFor(async () => ((await ann.textContent('#status')) ?? '').includes('resumed as p-ann'), 10_000, 'the page to resume');
    expect(await ann.evaluate(() => (globalThis as any).rebindDemo.client.player)).toBe('p-ann');
    await waitFor(async () => (await positionOn(bob, 'p-ann')).online, 3000, 'bob to see ann back');
    expect(server.gateway.sessions.size).toBe(2);
    expect(await walk(ann, bob, 'ArrowLeft', 300)).toBeGreaterThan(50);
    expect(await ann.evaluate(() => (globalThis as any).loadedOnce)).toBe(true);
  });

  it('lists the patch on the dashboard, and a rollback from it restores the old speed', async () => {
    // A rejected patch first, so the dashboard has an error with a code frame to show.
    const rules = project.path('logic/lib/rules.ts');
    const good = readFileSync(rules, 'utf8');
    project.write('logic/lib/rules.ts', good.replace('export const SPEED = 600;', 'export const SPEED = 600 *;'));
    expect((await server.host.patch()).error?.code).toBe('PATCH_COMPILE_ERROR');
    project.write('logic/lib/rules.ts', good);
    const context = await browser.newContext({ viewport: { width: 1300, height: 700 } });
    contexts.push(context);
    const dash = await context.newPage();
    const token = readFileSync(project.path('data/admin.token'), 'utf8').trim();
    await dash.goto(`${server.admin!.url.replace(/^ws/, 'http')}/#token=${token}`);
    await dash.waitForSelector('#modules tr[data-module="arena"]');
    await waitFor(async () => ((await dash.textContent('#history')) ?? '').includes('arena v1 → v2'), 5000, 'the patch in the history');
    expect(await dash.textContent('#modules tr[data-module="arena"]')).toContain('v2');
    expect(await dash.textContent('#history')).toContain('PATCH_COMPILE_ERROR');
    expect(await dash.textContent('#history pre')).toContain('> 5 | export const SPEED = 600 *;');
    expect(await dash.textContent('#player-list')).toContain('p-ann');
    await dash.screenshot({ path: `${SHOTS}/4-dashboard.png` });
    await dash.click('#modules button[data-module="arena"]');
    await waitFor(async () => (await badge(ann, 'arena')).includes('arena v3'), 5000, 'the rollback to reach the players');
    await waitFor(async () => ((await dash.textContent('#history')) ?? '').includes('rollback by dashboard@'), 5000, 'the rollback in the history');
    expect(await ann.evaluate(() => (globalThis as any).rebindDemo.client.call('arena.info'))).toMatchObject({ speed: 200 });
    server.host.call('arena.place', { player: 'p-ann', x: 100, y: 300 });
    await bob.waitForTimeout(200);
    const back = await walk(ann, bob, 'ArrowRight', 500);
    // Timing in a loaded browser is loose; the speed ratio (600 vs 200) is not.
    expect(back).toBeLessThan(fastWalk * 0.6);
    const audit = readFileSync(project.path('data/audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.some((l) => l.action === 'rollback' && l.origin === 'dashboard' && l.address === '127.0.0.1' && l.ok)).toBe(true);
    await dash.screenshot({ path: `${SHOTS}/5-dashboard-after-rollback.png` });
    await bob.screenshot({ path: `${SHOTS}/5-bob-after-rollback.png` });
  });

  it('shows each page only the players near it once a view radius is patched in, without a reload', async () => {
    const players = (page: Page) => page.evaluate(() => Object.keys((globalThis as any).rebindDemo.client.state('arena', 'players') ?? {}).sort().join());
    expect(await bob.textContent('#inview')).toMatch(/everyone sees everyone/);
    const rules = project.path('logic/lib/rules.ts');
    project.write('logic/lib/rules.ts', readFileSync(rules, 'utf8').replace('export const VIEW_RADIUS = 0;', 'export const VIEW_RADIUS = 150;'));
    expect((await server.host.patch()).ok).toBe(true);
    server.host.call('arena.place', { player: 'p-ann', x: 100, y: 300 });
    server.host.call('arena.place', { player: 'p-bob', x: 700, y: 300 });
    await waitFor(async () => (await players(bob)) === 'p-bob' && (await players(ann)) === 'p-ann', 5000, 'each page to see only itself');
    await waitFor(async () => /^1 player within 150 px/.test((await bob.textContent('#inview')) ?? ''), 5000, 'the page to say what it sees');
    await bob.screenshot({ path: `${SHOTS}/6-bob-alone.png` });
    server.host.call('arena.place', { player: 'p-ann', x: 620, y: 320 });
    await waitFor(async () => (await players(bob)) === 'p-ann,p-bob', 5000, 'ann to come into bob\'s view');
    expect(await positionOn(bob, 'p-ann')).toMatchObject({ x: 620, y: 320, online: true });
    await waitFor(async () => /^2 players within 150 px/.test((await bob.textContent('#inview')) ?? ''), 5000, 'the page to count ann');
    await bob.screenshot({ path: `${SHOTS}/6-bob-sees-ann.png` });
  });
});
