import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { expect, it } from 'vitest';
import { GameServer } from '../../server/server.ts';
import { TempProject, waitFor } from '../helpers/project.ts';

// The dashboard shows a tick that keeps failing, with where it failed, and a
// module left out at start. (Needs Chromium, like test/browser.)

const CHROMIUM = process.env.REBIND_CHROMIUM ?? '/usr/bin/chromium';

it.skipIf(!existsSync(CHROMIUM))('shows hook errors with their location, and modules left out at start', async () => {
  const project = new TempProject({
    'logic/broken.ts': `import type { Ctx } from '../server/api';\nexport function v() { return 1; }\nexport function tick(ctx: Ctx) { throw new Error('tick is broken'); }\n`,
    'logic/hang.ts': `export function init() { for (;;) {} }\n`,
  });
  process.env.REBIND_TIME_LIMIT_MS = '300';
  const server = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1', adminPort: 0, dataDir: project.path('data'), pages: true });
  delete process.env.REBIND_TIME_LIMIT_MS;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    const token = readFileSync(project.path('data/admin.token'), 'utf8').trim();
    await page.goto(`${server.admin!.url.replace(/^ws/, 'http')}/#token=${token}`);
    await page.waitForSelector('#modules tr[data-module="broken"]');
    await waitFor(async () => ((await page.textContent('#modules tr[data-module="broken"]')) ?? '').includes('last error in tick'), 5000, 'the tick error on the dashboard');
    const row = (await page.textContent('#modules tr[data-module="broken"]'))!;
    expect(row).toMatch(/tick \(hook\) \d+ \/ \d+/);
    expect(row).toContain('logic/broken.ts:3:');
    expect(row).toContain('tick is broken');
    expect(await page.isHidden('#skipped')).toBe(false);
    expect(await page.textContent('#skipped')).toContain('hang was left out at start: PATCH_TIME_LIMIT');
  } finally {
    await browser.close();
    await server.stop();
    project.cleanup();
  }
}, 60_000);
