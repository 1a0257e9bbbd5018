import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { parseVerifyWindow } from '../../server/patch/verify-window.ts';
import { waitFor } from '../helpers/project.ts';
import { startServerWithAdmin, type TestServer } from '../helpers/server.ts';

// What a verification must not confirm: a version whose calls never answer
// (an async handler awaiting forever on half its calls), and a window in
// which nothing was called at all. And /metrics counts a call that has not
// answered: calls_total + calls_in_flight = the calls made.

const TOKEN = 'rebind_verify_unanswered_token';
const V1 = `import { client } from '../server/api';
export const buy = client(async (ctx: unknown, p: { n: number }) => { await Promise.resolve(); return 'v1'; });
`;
const HANGS_HALF = `import { client } from '../server/api';
export const buy = client(async (ctx: unknown, p: { n: number }) => { if (p.n % 2 === 1) await new Promise(() => {}); return 'v2'; });
`;
const V2 = V1.replace("'v1'", "'v2'");

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const start = (): Promise<TestServer> => startServerWithAdmin(TOKEN, { 'logic/shop.ts': V1 }, { tickHz: 20 });

/** Players each sending shop.buy every few ms without waiting for the answer (a hung call must not stop the load). */
async function openLoop(url: string, players: number) {
  const counts = { sent: 0, answered: 0, failed: 0 };
  const clients = await Promise.all(
    Array.from({ length: players }, async (_, i) => {
      const c = new RebindClient(url, { reconnect: false });
      await c.connect();
      await c.join({ name: `p${i}` });
      return c;
    }),
  );
  let n = 0;
  const timer = setInterval(() => {
    for (const c of clients) {
      counts.sent++;
      c.call('shop.buy', { n: n++ }).then(
        () => counts.answered++,
        () => counts.failed++,
      );
    }
  }, 5);
  return {
    counts,
    stop: () => clearInterval(timer),
    close: () => clients.forEach((c) => c.close()),
  };
}

async function scrape(t: TestServer): Promise<string> {
  const res = await fetch(`${t.server.admin!.url.replace(/^ws/, 'http')}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

/** The sum of one metric's samples for shop.buy. */
function sumOf(text: string, metric: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`, 'gm'))) if (m[1]!.includes('handler="shop.buy"')) sum += Number(m[2]);
  return sum;
}

it('rolls back a version that never answers half its calls (they count as errors once stalled), and /metrics counts the calls in flight', async () => {
  t = await start();
  const load = await openLoop(t.url, 10);
  await waitFor(() => load.counts.answered > 200, 10_000, 'answers from v1');
  t.project.write('logic/shop.ts', HANGS_HALF);
  const patch = await t.server.host.engine.patch({ modules: ['shop'], origin: 'cli', verify: { windowMs: 10_000 } });
  expect(patch.ok).toBe(true);
  const report = await t.server.host.engine.verification(patch.id)!;
  expect(report.outcome).toBe('rolled-back');
  expect(report.elapsedMs).toBeLessThan(10_000);
  expect(report.reason).toMatch(/^error rate/);
  expect(report.new.unanswered).toBeGreaterThanOrEqual(10);
  expect(report.new.errors).toBeGreaterThanOrEqual(report.new.unanswered!);
  expect(t.server.host.bindings.live.get('shop')!.version).toBe(3);
  load.stop();
  // Every call the players sent reached the server: answered ones in calls_total, hung ones in calls_in_flight.
  let text = '';
  await waitFor(
    async () => {
      text = await scrape(t!);
      return sumOf(text, 'rebind_handler_calls_total') + sumOf(text, 'rebind_handler_calls_in_flight') === load.counts.sent;
    },
    10_000,
    'calls_total + calls_in_flight = the calls sent',
  );
  const inFlight = sumOf(text, 'rebind_handler_calls_in_flight');
  expect(inFlight).toBe(load.counts.sent - load.counts.answered - load.counts.failed);
  expect(inFlight).toBeGreaterThanOrEqual(report.new.unanswered!);
  expect(text).toMatch(/^# TYPE rebind_handler_calls_in_flight gauge$/m);
  load.close();

  // The patch's own closing audit line says it was rolled back; the auto-rollback's line says the rollback worked.
  const audit = readFileSync(path.join(t.project.root, 'data', 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; ok: boolean; result: Record<string, unknown> });
  expect(audit.find((a) => a.action === 'auto-rollback')).toMatchObject({ ok: true, result: { outcome: 'rolled-back' } });
}, 60_000);

it('a window in which the new version got no call is unverified, not confirmed: the patch stays live, recorded as such', async () => {
  t = await start();
  t.project.write('logic/shop.ts', V2);
  const patch = await t.server.host.engine.patch({ modules: ['shop'], origin: 'cli', verify: { windowMs: 1000 } });
  const report = await t.server.host.engine.verification(patch.id)!;
  expect(report).toMatchObject({ outcome: 'unverified', reason: expect.stringMatching(/^too few calls to judge: 0 call\(s\)/) });
  await waitFor(() => t!.server.host.history(1)[0]!.kind === 'unverified', 5000, 'the unverified record');
  expect(t.server.host.history(1)[0]).toMatchObject({ kind: 'unverified', origin: 'verify', ok: true, verify: { patch: patch.id, outcome: 'unverified' } });
  expect(t.server.host.bindings.live.get('shop')!.version).toBe(2);
}, 30_000);

it('a canary no player called is withdrawn at the end of its window, never promoted unseen', async () => {
  t = await start();
  t.project.write('logic/shop.ts', V2);
  const patch = await t.server.host.engine.patch({ modules: ['shop'], origin: 'cli', canary: 0.1, verify: { windowMs: 1000 } });
  expect(patch).toMatchObject({ ok: true, canary: 0.1 });
  const report = await t.server.host.engine.verification(patch.id)!;
  expect(report.outcome).toBe('unverified');
  await waitFor(() => t!.server.host.bindings.canary === undefined && t!.server.host.history(1)[0]!.kind === 'unverified', 5000, 'the canary withdrawn');
  expect(t.server.host.bindings.live.get('shop')!.version).toBe(1);
  expect(await t.server.host.call('shop.buy', { n: 1 }, { player: 'anyone', origin: 'client' })).toBe('v1');
}, 30_000);

it('a window under a second is refused everywhere (parser, engine): it would be over after one check', async () => {
  expect(parseVerifyWindow('10ms')).toEqual({ error: 'must be at least 1s (1000 ms), got "10ms"' });
  expect(parseVerifyWindow('1s')).toEqual({ ms: 1000 });
  t = await start();
  t.project.write('logic/shop.ts', V2);
  const refused = await t.server.host.engine.patch({ modules: ['shop'], origin: 'cli', verify: { windowMs: 500 } });
  expect(refused).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/at least 1s/) } });
  expect(t.server.host.bindings.live.get('shop')!.version).toBe(1);
}, 30_000);
