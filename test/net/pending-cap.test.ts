import { afterAll, beforeAll, expect, it } from 'vitest';
import type net from 'node:net';
import { adminRequest } from '../helpers/admin.ts';
import { openMany, target } from '../helpers/attack.ts';
import { COUNTER_STATE, waitFor } from '../helpers/project.ts';
import { joinedSocket, startServer, type TestServer } from '../helpers/server.ts';

// Sockets that have not become WebSockets yet are capped across all
// addresses, on each port: past the cap the oldest of them is closed for the
// newcomer, so a flood from many addresses cannot use up the process's file
// descriptors and lock out players or the operator.

const TOKEN = 'pending-cap-token-0123456789';
const CAP = 20;
let t: TestServer;
const saved = process.env.REBIND_ADMIN_TOKEN;
beforeAll(async () => {
  process.env.REBIND_ADMIN_TOKEN = TOKEN;
  t = await startServer({ 'state/counter.ts': COUNTER_STATE }, { adminPort: 0, httpTimeouts: { maxPending: CAP } });
});
afterAll(async () => {
  await t.stop();
  if (saved === undefined) delete process.env.REBIND_ADMIN_TOKEN;
  else process.env.REBIND_ADMIN_TOKEN = saved;
});

it.each(['game', 'admin'])('on the %s port, idle sockets from many addresses past the cap make room, oldest first', async (port) => {
  const where = target(port === 'game' ? t.url : t.server.admin!.url);
  const closed = new Set<net.Socket>();
  // Two per address: well under the per-address cap, so only the global cap can act.
  const sockets = await openMany(where, CAP * 3, 2, (s) => s.once('close', () => closed.add(s)));
  await waitFor(() => closed.size >= CAP * 2, 5000, 'the oldest idle sockets to be closed');
  // The newest are the ones kept.
  expect(sockets.slice(-CAP / 2).every((s) => !closed.has(s))).toBe(true);
  expect(closed.has(sockets[0]!)).toBe(true);
  // Players and the operator still get in.
  const player = await joinedSocket(t.url, 'alice');
  player.close();
  expect(await adminRequest(t.server.admin!.url, TOKEN, 'status')).toBeTruthy();
  for (const s of sockets) s.destroy();
});
