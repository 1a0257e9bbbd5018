import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, expect, it } from 'vitest';
import { setMetricsEnabled } from '../../server/metrics/call-stats.ts';
import { MAX_VERIFY_MS, parseDuration, parseVerifyWindow, verifyWindowProblem } from '../../server/patch/verify-window.ts';
import { adminRequest } from '../helpers/admin.ts';
import { runCli } from '../helpers/process.ts';
import { startServer, startServerWithAdmin, type TestServer } from '../helpers/server.ts';

// One bound and one parser for a verification window, shared by the server's
// --verify, the admin channel, the CLI and the dashboard: a window one of
// them takes, none refuses, and a refusal names the bound.

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
const TOKEN = 'rebind_verify_window_token';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

it('parses durations in ms, s, m and h, and refuses anything over 24h or under 1s with the bound named', () => {
  expect(parseVerifyWindow('30s')).toEqual({ ms: 30_000 });
  expect(parseVerifyWindow('1500ms')).toEqual({ ms: 1500 });
  expect(parseVerifyWindow('500ms')).toEqual({ error: 'must be at least 1s (1000 ms), got "500ms"' });
  expect(parseVerifyWindow('2m')).toEqual({ ms: 120_000 });
  expect(parseVerifyWindow('24h')).toEqual({ ms: MAX_VERIFY_MS });
  expect(parseVerifyWindow('3000000s')).toEqual({ error: expect.stringMatching(/^must be at most 24h \(86400000 ms\), got "3000000s" \(833\.3 h\)$/) });
  expect(parseVerifyWindow('99999m')).toEqual({ error: expect.stringMatching(/at most 24h/) });
  expect(parseVerifyWindow('0s')).toEqual({ error: 'must be at least 1s (1000 ms), got "0s"' });
  expect(parseVerifyWindow('soon')).toEqual({ error: expect.stringMatching(/^must be a duration such as 30s/) });
  expect(parseVerifyWindow('')).toEqual({ error: expect.stringMatching(/^must be a duration/) });
});

it('the text rule and the number rule agree: a parsed window is refused exactly when the admin channel refuses its ms', () => {
  fc.assert(
    fc.property(fc.nat({ max: 200_000_000 }), fc.constantFrom('ms', 's', 'm', 'h', ''), (n, unit) => {
      const text = `${n}${unit}`;
      const parsed = parseVerifyWindow(text);
      const ms = parseDuration(text)!;
      expect('ms' in parsed).toBe(verifyWindowProblem(ms) === undefined);
      if ('ms' in parsed) expect(parsed.ms).toBeLessThanOrEqual(MAX_VERIFY_MS);
    }),
  );
});

it('rebind patch --verify 3000000s is a usage error (exit 2) naming the bound, before anything connects', async () => {
  // No server: a usage error is decided before connecting (a connection error would also be exit 2, but say so).
  const run = await runCli(['patch', 'shop', '--verify', '3000000s', '--server', 'ws://127.0.0.1:9'], { REBIND_ADMIN_TOKEN: TOKEN });
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/--verify must be at most 24h \(86400000 ms\), got "3000000s"/);
  const watch = await runCli(['watch', '--verify', '25h', '--server', 'ws://127.0.0.1:9'], { REBIND_ADMIN_TOKEN: TOKEN });
  expect(watch.code).toBe(2);
  expect(watch.stderr).toMatch(/--verify must be at most 24h/);
}, 30_000);

it('npm start -- --watch --verify 99999m is refused at start (exit 2) with the bound', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', MAIN, '--watch', '--verify', '99999m', '--port', '0', '--admin-port', '0'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, REBIND_VERIFY: '' } });
  expect(run.status).toBe(2);
  expect(run.stderr.split('\n')[0]).toBe('rebind: --verify must be at most 24h (86400000 ms), got "99999m" (1666.7 h)');
}, 40_000);

it('the admin channel refuses a window over the bound with BAD_REQUEST naming it, and a patch goes on being refused, not half-made', async () => {
  t = await startServerWithAdmin(TOKEN, { 'logic/shop.ts': 'export function buy() { return 1; }\n' });
  const before = t.server.host.history().length;
  await expect(adminRequest(t.server.admin!.url, TOKEN, 'patch', { verify: MAX_VERIFY_MS + 1 })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/at most 24h/) });
  await expect(adminRequest(t.server.admin!.url, TOKEN, 'patch', { verify: 0.5 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  expect(t.server.host.history().length).toBe(before);
}, 30_000);

it('with the per-call counts off (REBIND_METRICS=0) a verified patch is refused, not confirmed blind', async () => {
  t = await startServer({ 'logic/shop.ts': 'export function buy() { return 1; }\n' });
  t.project.write('logic/shop.ts', 'export function buy() { return 2; }\n');
  setMetricsEnabled(false);
  try {
    const refused = await t.server.host.engine.patch({ modules: ['shop'], origin: 'cli', verify: { windowMs: 1000 } });
    expect(refused).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/REBIND_METRICS=0/) } });
    expect(t.server.host.bindings.live.get('shop')!.version).toBe(1);
  } finally {
    setMetricsEnabled(true);
  }
  expect((await t.server.host.engine.patch({ modules: ['shop'], origin: 'cli', verify: { windowMs: 1000 } })).ok).toBe(true);
}, 30_000);

it('the engine holds the same bound for a window given in code (GameServer verifyMs, host.engine.patch)', async () => {
  t = await startServer({ 'logic/shop.ts': 'export function buy() { return 1; }\n' });
  t.project.write('logic/shop.ts', 'export function buy() { return 2; }\n');
  const refused = await t.server.host.engine.patch({ modules: ['shop'], origin: 'api', verify: { windowMs: MAX_VERIFY_MS + 1 } });
  expect(refused).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/^the verification window must be at most 24h/) } });
  expect(t.server.host.bindings.live.get('shop')!.version).toBe(1);
}, 30_000);
