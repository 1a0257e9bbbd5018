import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { FLEET_GAME } from '../fleet/game.ts';
import { fleetForTests } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';

// The dashboard's fleet section while the fleet's Redis is down: it said
// "the fleet's code: none recorded yet" beside a fleet of one node. It now
// says that Redis is down since when, and that the others are not known.

const CHROMIUM = process.env.REBIND_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_BROWSER = existsSync(CHROMIUM);
if (!HAVE_BROWSER && process.env.REBIND_REQUIRE_BROWSER === '1') throw new Error(`REBIND_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}`);
const TOKEN = 'rebind_fleet_dashboard_token';

describe.skipIf(!HAVE_BROWSER || !redisOrSkip())('dashboard: the fleet section', () => {
  const under = fleetForTests({ nodes: 2, files: FLEET_GAME, env: { REBIND_ADMIN_TOKEN: TOKEN } });

  it('shows both nodes and the fleet code, then "Redis is DOWN since ..." while Redis is down', async () => {
    const fleet = under.fleet;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${fleet.nodes[0]!.adminUrl.replace(/^ws/, 'http')}/#token=${TOKEN}`);
      const line = () => page.locator('#fleet-code').textContent();
      await waitFor(async () => /the fleet's code: /.test((await line()) ?? ''), 15_000, 'the fleet section');
      expect(await page.locator('#fleet tr').count()).toBe(2);
      await fleet.redis.stop();
      await waitFor(() => fleet.nodes[0]!.proc.output().includes('FLEET REDIS DOWN'), 15_000, 'node 0 to notice Redis down');
      await page.reload();
      await waitFor(async () => /Redis is DOWN since \d\d:\d\d:\d\d UTC/.test((await line()) ?? ''), 15_000, 'the dashboard to say Redis is down');
      expect(await line()).toMatch(/other nodes and the fleet's code are not known now/);
      expect(await page.locator('#fleet-code.fail').count()).toBe(1);
      expect(await page.locator('#fleet tr').count()).toBe(1);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
