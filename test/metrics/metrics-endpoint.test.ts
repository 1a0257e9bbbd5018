import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { conformingText } from '../../server/metrics/metrics.ts';

// GET /metrics on the admin listener: the admin token as a Bearer token, the
// Prometheus text format (checked line by line against the format's grammar),
// and counts that match the calls this test made.

const TOKEN = 'rebind_metrics_test_token';
let t: TestServer;
let base: string;

beforeAll(async () => {
  process.env.REBIND_ADMIN_TOKEN = TOKEN;
  t = await startServer(
    {
      'logic/shop.ts': `import { client, fail } from '../server/api';
export const buy = client((ctx: unknown, p: { item: string }) => { if (p.item === 'cursed') fail('CURSED', 'no'); return 'ok'; });
`,
    },
    { adminPort: 0, adminHost: '127.0.0.1', dataDir: undefined, tickHz: 20 },
  );
  base = t.server.admin!.url.replace(/^ws/, 'http');
}, 30_000);

afterAll(async () => {
  delete process.env.REBIND_ADMIN_TOKEN;
  await t?.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the Prometheus text format (version 0.0.4); throws on any line it does not allow. */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sample = new RegExp(`^(${NAME})(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*",?)*)\\})? (-?[0-9.e+-]+|NaN|\\+Inf|-Inf)(?: -?\\d+)?$`);
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (comment) {
      if (comment[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(comment[3]);
        expect(types.has(comment[2]!), `TYPE ${comment[2]} twice`).toBe(false);
        types.set(comment[2]!, comment[3]!);
      }
      continue;
    }
    const m = sample.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

const scrape = async () => {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
};
const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

it('refuses a scrape without the admin token', async () => {
  expect((await fetch(`${base}/metrics`)).status).toBe(401);
  expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
});

it('parses as Prometheus text, and its counts match the calls made', async () => {
  const c = new RebindClient(t.url, { reconnect: false });
  await c.connect();
  await c.join({ name: 'ann' });
  for (let i = 0; i < 7; i++) await c.call('shop.buy', { item: 'apple' });
  for (let i = 0; i < 3; i++) await expect(c.call('shop.buy', { item: 'cursed' })).rejects.toMatchObject({ code: 'CURSED' });
  await t.server.host.patch(['shop'], 'cli'); // a noop: same code
  const { samples, types } = await scrape();
  const labels = { handler: 'shop.buy', module: 'shop', version: '1' };
  expect(value(samples, 'rebind_handler_calls_total', labels)).toBe(10);
  expect(value(samples, 'rebind_handler_errors_total', labels)).toBe(3);
  expect(types.get('rebind_handler_duration_seconds')).toBe('histogram');
  expect(value(samples, 'rebind_handler_duration_seconds_count', labels)).toBe(10);
  expect(value(samples, 'rebind_handler_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(10);
  // The session's join ran once, as a hook.
  expect(value(samples, 'rebind_hook_calls_total', { module: 'session', hook: 'join' })).toBe(1);
  expect(value(samples, 'rebind_sessions', { state: 'connected' })).toBe(1);
  expect(value(samples, 'rebind_connections', {})).toBe(1);
  expect(value(samples, 'rebind_client_messages_total', {})).toBeGreaterThanOrEqual(11);
  expect(value(samples, 'rebind_patches_total', { kind: 'patch', origin: 'start', result: 'ok' })).toBe(1);
  expect(value(samples, 'rebind_patches_total', { kind: 'patch', origin: 'cli', result: 'noop' })).toBe(1);
  expect(value(samples, 'rebind_ticks_total', {})).toBeGreaterThan(0);
  expect(types.get('rebind_tick_duration_seconds')).toBe('histogram');
  expect(value(samples, 'rebind_tick_duration_seconds_count', {})).toBeGreaterThan(0);
  expect(samples.some((s) => s.name.startsWith('nodejs_eventloop_lag'))).toBe(true);
  expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
  // Scraped again at once: the event loop probe (every 10 ms) may have no sample since the last scrape, its mean NaN then, written as the format says.
  const again = (await scrape()).samples;
  expect(value(again, 'nodejs_eventloop_lag_mean_seconds', {})).toBeDefined();

  // A patch: the new version's calls are counted apart from the old one's.
  t.project.write('logic/shop.ts', `import { client } from '../server/api';\nexport const buy = client(() => 'v2');\n`);
  expect((await t.server.host.patch(['shop'], 'cli')).ok).toBe(true);
  for (let i = 0; i < 4; i++) expect(await c.call('shop.buy', { item: 'apple' })).toBe('v2');
  const after = (await scrape()).samples;
  expect(value(after, 'rebind_handler_calls_total', { handler: 'shop.buy', version: '2' })).toBe(4);
  expect(value(after, 'rebind_handler_calls_total', { handler: 'shop.buy', version: '1' })).toBe(10);
  c.close();
});

it('says an empty event loop window as NaN in every figure, where prom-client writes "Nan", 2^63 ns and 0', () => {
  const empty = [
    'nodejs_eventloop_lag_seconds 0.001',
    'nodejs_eventloop_lag_min_seconds 9223372036.854776',
    'nodejs_eventloop_lag_max_seconds 0',
    'nodejs_eventloop_lag_mean_seconds Nan',
    'nodejs_eventloop_lag_stddev_seconds Nan',
    'nodejs_eventloop_lag_p50_seconds 0',
    'nodejs_eventloop_lag_p99_seconds 0',
    'rebind_ticks_total 5',
    '',
  ].join('\n');
  expect(conformingText(empty).split('\n')).toEqual([
    'nodejs_eventloop_lag_seconds 0.001',
    'nodejs_eventloop_lag_min_seconds NaN',
    'nodejs_eventloop_lag_max_seconds NaN',
    'nodejs_eventloop_lag_mean_seconds NaN',
    'nodejs_eventloop_lag_stddev_seconds NaN',
    'nodejs_eventloop_lag_p50_seconds NaN',
    'nodejs_eventloop_lag_p99_seconds NaN',
    'rebind_ticks_total 5',
    '',
  ]);
  const full = 'nodejs_eventloop_lag_min_seconds 0.0101\nnodejs_eventloop_lag_mean_seconds 0.0102\n';
  expect(conformingText(full)).toBe(full);
});
