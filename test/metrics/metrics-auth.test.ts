import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';

// GET /metrics refuses a wrong token the way the admin socket does: counted
// per address, audited at failures 1, 2, 4, 8... in a row, each answer after
// a delay that doubles (guessing at full speed was possible, and unlogged).
// The Bearer scheme is matched case-insensitively.

const TOKEN = 'rebind_metrics_auth_test_token';
let t: TestServer;
let base: string;

beforeAll(async () => {
  process.env.REBIND_ADMIN_TOKEN = TOKEN;
  t = await startServer({}, { adminPort: 0, adminHost: '127.0.0.1', tickHz: 20 });
  base = t.server.admin!.url.replace(/^ws/, 'http');
}, 30_000);

afterAll(async () => {
  delete process.env.REBIND_ADMIN_TOKEN;
  await t?.stop();
});

const auditAuth = () => {
  const file = t.project.path('data/audit.log');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { action: string; origin: string; ok: boolean; result: string; address: string })
        .filter((e) => e.action === 'auth')
    : [];
};

it('wrong tokens on /metrics are audited at failures 1, 2, 4 and slowed down; a right one ends the run', async () => {
  const statuses: number[] = [];
  const started = Date.now();
  for (let i = 0; i < 4; i++) statuses.push((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer wrong-${i}` } })).status);
  const elapsed = Date.now() - started;
  expect(statuses).toEqual([401, 401, 401, 401]);
  // 100 + 200 + 400 + 800 ms of backoff at least (a floor, not a tight bound).
  expect(elapsed).toBeGreaterThanOrEqual(1400);
  const lines = auditAuth().map((e) => e.result);
  expect(lines).toEqual([expect.stringMatching(/metrics.*failure 1 in a row/), expect.stringMatching(/failure 2 in a row/), expect.stringMatching(/failure 4 in a row/)]);
  expect(auditAuth().every((e) => e.ok === false && e.address.length > 0 && e.origin === 'metrics')).toBe(true);

  // The right token, with the scheme in any case, is served and ends the run of failures.
  for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `${scheme} ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/^# (HELP|TYPE) /m);
  }
  await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-again' } });
  expect(auditAuth().at(-1)!.result).toMatch(/failure 1 in a row/);
}, 30_000);
