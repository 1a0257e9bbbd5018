import { statSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
const saved = process.env.REBIND_ADMIN_TOKEN;
beforeAll(async () => {
  delete process.env.REBIND_ADMIN_TOKEN;
  t = await startServer({ 'logic/x.ts': `export function v() { return 1; }\n` }, { adminPort: 0 });
});
afterAll(async () => {
  await t.stop();
  if (saved !== undefined) process.env.REBIND_ADMIN_TOKEN = saved;
});

function attempt(token: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const ws = new WebSocket(t.server.admin!.url, { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, ms: performance.now() - started });
    });
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode!, ms: performance.now() - started }));
    ws.once('error', () => undefined);
  });
}

it('generates a token readable only by its owner, on loopback', () => {
  const file = t.project.path('data/admin.token');
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(readFileSync(file, 'utf8').trim().length).toBeGreaterThanOrEqual(32);
  expect(t.server.admin!.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
});

it('slows down repeated failures and lets the right token in', async () => {
  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await attempt('wrong');
    expect(r.status).toBe(401);
    times.push(r.ms);
  }
  // 100, 200, 400, 800 ms of added delay: lower bounds only, a loaded machine only adds to them.
  for (const [i, ms] of times.entries()) expect(ms).toBeGreaterThanOrEqual(100 * 2 ** i - 10);
  const token = readFileSync(t.project.path('data/admin.token'), 'utf8').trim();
  expect((await attempt(token)).status).toBe(101);
  // A success resets the delay: without the reset this fifth failure would wait 1,600 ms.
  expect((await attempt('wrong')).ms).toBeLessThan(1000);
});
