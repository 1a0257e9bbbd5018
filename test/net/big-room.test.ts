import { afterAll, beforeAll, expect, it } from 'vitest';
import { sleep } from '../helpers/project.ts';
import { RawSocket, startServer, type TestServer } from '../helpers/server.ts';

// A room snapshot bigger than the ceiling on queued bytes (64 MB by default;
// 1 MB here, with snapshots of 3 MB, to keep the test's memory small) is
// what the server sends on its own when a player joins or resumes: it does
// not make the player a slow client. Every joiner and every resuming member
// gets its snapshots and its reply, however many join at once; a client
// that truly does not read is still cut once it owes more than the ceiling.

const MB = 1024 * 1024;
const STATE = `
import { defineStore } from '../server/api';
export const blob = defineStore('blob', { rows: [] as string[] });
`;
const LOGIC = `
import { client, type Ctx } from '../server/api';
import { blob } from '../state/blob';
export function init(ctx: Ctx) {
  blob.update((d) => { d.rows = Array.from({ length: 3 }, (_, i) => String(i).repeat(${MB})); });
  ctx.setRoomView('big', { blob: true });
  ctx.setRoomView('big2', { blob: true });
}
export const flood = client((ctx: Ctx, p: { n: number }) => { for (let i = 0; i < p.n; i++) ctx.send(ctx.player!, 'chunk', 'y'.repeat(64 * 1024)); return p.n; });
`;
// Joining puts the player in two rooms of 3 MB each: 6 MB queued in one turn, before the reply.
const SESSION = `
import { type Ctx } from '../server/api';
export function auth(ctx: Ctx, p: { name: string }) { return 'p-' + p.name; }
export function join(ctx: Ctx) { ctx.join('big'); ctx.join('big2'); }
`;

let t: TestServer;
beforeAll(async () => {
  t = await startServer(
    { 'state/blob.ts': STATE, 'logic/game.ts': LOGIC, 'logic/session.ts': SESSION },
    { graceMs: 60_000, limits: { maxQueuedBytes: 1 * MB, maxSendBuffer: 256 * 1024 } },
  );
});
afterAll(async () => t.stop());

/** Sends `request` and reads until its reply, counting the `$state` snapshots that came before it. */
async function request(socket: RawSocket, request: unknown[]): Promise<{ reply: [number, number, any]; states: string[] }> {
  socket.sendBinary(request);
  const states: string[] = [];
  for (;;) {
    const m = (await socket.next(20_000)) as unknown[];
    if (m[0] === '$state') states.push((m[2] as { room: string }).room);
    else if (typeof m[0] === 'number') return { reply: m as [number, number, any], states };
  }
}

async function opened(): Promise<RawSocket> {
  const s = new RawSocket(t.url);
  await s.open();
  return s;
}

it('lets several players join rooms whose snapshots add up past the ceiling, each getting its snapshots and its reply', async () => {
  const sockets = await Promise.all(Array.from({ length: 4 }, () => opened()));
  const closes: unknown[] = [];
  for (const s of sockets) void s.closed.then((c) => closes.push(c));
  const results = await Promise.all(sockets.map((s, i) => request(s, ['$auth', 1, { name: `j${i}` }])));
  for (const r of results) {
    expect(r.reply).toMatchObject([1, 0, { player: expect.stringMatching(/^p-j/) }]);
    expect(r.states.sort()).toEqual(['big', 'big2']);
  }
  await sleep(300);
  expect(closes).toEqual([]);
  for (const s of sockets) s.close();
}, 60_000);

it('gives a resuming member every snapshot and then its $resume reply', async () => {
  const first = await opened();
  const { reply } = await request(first, ['$auth', 1, { name: 'back' }]);
  const token = reply[2].token as string;
  first.close();
  await sleep(100);
  const again = await opened();
  const resumed = await request(again, ['$resume', 1, { token }]);
  expect(resumed.reply).toMatchObject([1, 0, { player: 'p-back', resumed: true }]);
  expect(resumed.states.sort()).toEqual(['big', 'big2']);
  // Still connected, and served.
  expect((await request(again, ['$ping', 2, {}])).reply[1]).toBe(0);
  again.close();
}, 60_000);

it('still cuts a client that does not read once it owes more than the ceiling, snapshots aside', async () => {
  const s = await opened();
  // Never reads: its socket is paused as soon as the requests are out.
  s.sendBinary(['$auth', 1, { name: 'deaf' }]);
  s.sendBinary(['game.flood', 0, { n: 320 }]);
  await sleep(100);
  const raw = (s.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  raw.pause();
  await sleep(1000);
  raw.resume();
  const closed = await s.closed;
  expect(closed.code).toBe(1008);
  expect(closed.reason).toMatch(/^send buffer full: the client is not reading fast enough \(over 1048576 bytes waiting\)/);
}, 60_000);
