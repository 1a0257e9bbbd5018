import { afterAll, beforeAll, expect, it } from 'vitest';
import { RoomReplicas } from '../../client/room-replicas.ts';
import { PIECE_BYTES } from '../../server/net/sync-joins.ts';
import { RawSocket, startServer, type TestServer } from '../helpers/server.ts';

// A joiner of a big room gets it in pieces: every row arrives, no frame is
// much bigger than a piece, and the slow-client limit (here 1 MB queued at
// most, 256 KB for 1 s) never cuts it, though the room is 12 MB. Everyone
// already in the room gets only the new player's row.

const ROWS = 3000;
const STATE = `
import { defineTable } from '../server/api';
export const tiles = defineTable<{ art: string; n: number }>('tiles');
export const players = defineTable<{ name: string; x: number }>('players');
`;
const LOGIC = `
import { type Ctx } from '../server/api';
import { tiles } from '../state/room';
export function init(ctx: Ctx) {
  ctx.setRoomView('big', { tiles: true, players: true });
  if (tiles.size === 0) for (let i = 0; i < ${ROWS}; i++) tiles.set('t' + i, { art: String(i % 10).repeat(4000), n: i });
}
`;
const SESSION = `
import { type Ctx } from '../server/api';
import { players } from '../state/room';
export function auth(ctx: Ctx, p: { name: string }) { return 'p-' + p.name; }
export function join(ctx: Ctx) { players.set(ctx.player!, { name: ctx.player!, x: 1.5 }); ctx.join('big'); }
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer(
    { 'state/room.ts': STATE, 'logic/room.ts': LOGIC, 'logic/session.ts': SESSION },
    { limits: { maxQueuedBytes: 1024 * 1024, maxSendBuffer: 256 * 1024, slowClientMs: 1000 } },
  );
});
afterAll(async () => t.stop());

/** A player whose every sync push is applied to a replica, frame sizes noted. */
async function member(name: string): Promise<{ socket: RawSocket; replicas: RoomReplicas; sizes: number[] }> {
  const socket = new RawSocket(t.url);
  const replicas = new RoomReplicas();
  const sizes: number[] = [];
  socket.ws.on('message', (data: Buffer) => sizes.push(data.length));
  await socket.open();
  socket.sendBinary(['$auth', 1, { name }]);
  void (async () => {
    for (;;) {
      const m = (await socket.next(60_000).catch(() => null)) as [string, number, unknown] | null;
      if (!m) return;
      if (m[0] === '$state' || m[0] === '$delta') replicas.apply(m[0], m[2]);
    }
  })();
  return { socket, replicas, sizes };
}

const rowsOf = (r: RoomReplicas, store: string) => Object.keys((r.rooms.get('big')?.[store] ?? {}) as object).length;

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('sends a 12 MB room to a joiner in pieces, and the others only the new row', async () => {
  const early = await member('early');
  await until('early to hold the room', () => rowsOf(early.replicas, 'tiles') === ROWS);
  const before = early.sizes.length;
  const closes: unknown[] = [];
  void early.socket.closed.then((c) => closes.push(c));
  const late = await member('late');
  void late.socket.closed.then((c) => closes.push(c));
  await until('late to hold the room', () => rowsOf(late.replicas, 'tiles') === ROWS);
  await until('early to see late', () => rowsOf(early.replicas, 'players') === 2);
  expect(late.replicas.rooms.get('big')).toEqual(early.replicas.rooms.get('big'));
  // In pieces: many frames, none much over a piece (a piece may end with one row past it).
  expect(late.sizes.length).toBeGreaterThan(20);
  expect(Math.max(...late.sizes)).toBeLessThan(PIECE_BYTES + 16 * 1024);
  // Early got the new player's row, not the room again.
  const sinceJoin = early.sizes.slice(before).reduce((a, b) => a + b, 0);
  expect(sinceJoin).toBeLessThan(2048);
  await new Promise((r) => setTimeout(r, 1200));
  expect(closes).toEqual([]);
  early.socket.close();
  late.socket.close();
}, 90_000);
