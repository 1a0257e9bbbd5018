import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readUntil, target, upgradeRequest } from '../helpers/attack.ts';
import { adminRequest } from '../helpers/admin.ts';
import { COUNTER_STATE, sleep, waitFor } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// How the admin port says no: a foreign browser origin is throttled and
// audited like a wrong token (few lines, growing delay, the origin it saw);
// a refused socket is closed for good, even when the peer keeps its side
// open; what an operator sends is cut to size in the audit log.

const TOKEN = 'admin-refusals-token-0123456789';
let t: TestServer;
const saved = process.env.REBIND_ADMIN_TOKEN;
beforeAll(async () => {
  process.env.REBIND_ADMIN_TOKEN = TOKEN;
  t = await startServer({ 'state/counter.ts': COUNTER_STATE }, { adminPort: 0 });
});
afterAll(async () => {
  await t.stop();
  if (saved === undefined) delete process.env.REBIND_ADMIN_TOKEN;
  else process.env.REBIND_ADMIN_TOKEN = saved;
});

function auditLines(): Array<Record<string, unknown>> {
  const file = t.server.admin!.audit.file;
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Sockets the admin listener holds now. */
function held(): Promise<number> {
  const http = (t.server.admin as unknown as { http: Server }).http;
  return new Promise((resolve, reject) => http.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/** A raw socket that never closes its own side: only the server can end the connection. */
function halfOpenSocket(): Promise<net.Socket> {
  const where = target(t.server.admin!.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: where.host, port: where.port, allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

it('throttles a flood from a foreign browser origin: few audit lines, naming the origin, and a growing delay', async () => {
  const before = auditLines().length;
  const where = target(t.server.admin!.url);
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const socket = await halfOpenSocket();
      socket.on('error', () => undefined);
      socket.write(upgradeRequest(where, '/', { origin: 'http://evil.example' }));
      const head = await readUntil(socket, '\r\n', 15_000);
      socket.destroy();
      return { head, ms: performance.now() - started };
    }),
  );
  for (const a of answers) expect(a.head).toMatch(/^HTTP\/1\.1 403/);
  // Failures 1, 2, 4, 8 in a row are written; the others only counted.
  const lines = auditLines().slice(before);
  expect(lines.map((l) => l.result)).toEqual([1, 2, 4, 8].map((n) => `refused browser origin http://evil.example (failure ${n} in a row)`));
  expect(lines[0]).toMatchObject({ action: 'auth', origin: 'browser', browserOrigin: 'http://evil.example', address: '127.0.0.1', ok: false });
  // Not answered at once: the tenth waited for its turn in the backoff (a lower bound only).
  expect(Math.max(...answers.map((a) => a.ms))).toBeGreaterThan(1000);
  // The right token from the same address still works, and ends the run of failures.
  expect(await adminRequest(t.server.admin!.url, TOKEN, 'status')).toBeTruthy();
});

it.each([
  ['a wrong token (401)', '/?token=wrong', {}, 401],
  ['a foreign origin (403)', '/', { origin: 'http://elsewhere.example' }, 403],
  ['a URL that is not one (400)', '//[', {}, 400],
])('closes the socket after refusing %s, even when the peer keeps its side open', async (_what, path, extra, status) => {
  const baseline = await held();
  const where = target(t.server.admin!.url);
  const sockets = await Promise.all(Array.from({ length: 5 }, () => halfOpenSocket()));
  const heads = await Promise.all(
    sockets.map((s) => {
      s.on('error', () => undefined);
      s.write(upgradeRequest(where, path, extra as Record<string, string>));
      return readUntil(s, '\r\n', 15_000);
    }),
  );
  for (const head of heads) expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status}`));
  await waitFor(async () => (await held()) <= baseline, 10_000, 'the refused sockets to be closed by the server');
  for (const s of sockets) s.destroy();
  // A successful request resets this address's run of failures for the next test.
  expect(await adminRequest(t.server.admin!.url, TOKEN, 'status')).toBeTruthy();
});

it('cuts long strings in the audit line and says so', async () => {
  const long = 'x'.repeat(100_000);
  await adminRequest(t.server.admin!.url, TOKEN, 'rollback', { module: long, note: { deep: long } }).catch(() => undefined);
  await sleep(50);
  const raw = readFileSync(t.server.admin!.audit.file, 'utf8').trim().split('\n').at(-1)!;
  expect(raw.length).toBeLessThan(5000);
  expect(JSON.parse(raw)).toMatchObject({ action: 'rollback', args: { module: expect.stringMatching(/\(cut: 100000 characters\)$/) } });
});
