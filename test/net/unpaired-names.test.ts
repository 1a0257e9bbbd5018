import { afterEach, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import type { Table } from '../../server/store/table.ts';

// Names logic gives the outbox (rooms, events) and the codes and messages of
// its errors travel as text. One with an unpaired surrogate reached MessagePack
// clients (UTF-8) as U+FFFD and JSON clients as itself; a room so named was
// joined, then failed after the commit when the player's saved rooms (plain
// data) were written, so every later room change of that player was lost at a
// restart (attack 17a). Names are refused in the handler; error texts reach
// both kinds of client alike.

const LOGIC = `import { client, fail } from '../server/api';
type Ctx = { player: string; join(r: unknown): void; leave(r: unknown): void; broadcast(r: unknown, e: unknown, p?: unknown): void; send(p: string, e: unknown, v?: unknown): void; callRoom(r: unknown, n: string): Promise<unknown>; setRoomView(r: unknown, v: unknown): void };
export const join = client((ctx: Ctx, room: string) => { ctx.join(room); return 'ok'; });
export const leave = client((ctx: Ctx, room: string) => { ctx.leave(room); return 'ok'; });
export const broadcast = client((ctx: Ctx, p: { room: string; event: string }) => { ctx.broadcast(p.room, p.event, 1); return 'ok'; });
export const send = client((ctx: Ctx, event: string) => { ctx.send(ctx.player, event, 1); return 'ok'; });
export const view = client((ctx: Ctx, room: string) => { ctx.setRoomView(room, {}); return 'ok'; });
export const viaRoom = client((ctx: Ctx, room: string) => ctx.callRoom(room, 'n.fine'));
export const fine = client(() => 'fine');
export const refuse = client(() => fail('ODD\\ud800', 'no \\udc00 here'));
`;

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const outcome = (c: RebindClient, handler: string, payload: unknown) =>
  c.call(handler as never, payload as never).then(
    (value: unknown) => ({ value }),
    (err: { code?: string; message?: string }) => ({ code: err.code, message: err.message }),
  );

it('refuses room and event names with an unpaired surrogate in the handler; the player\'s saved rooms keep every later join; error texts reach MessagePack and JSON clients alike', async () => {
  t = await startServer({ 'logic/n.ts': LOGIC });
  const binary = new RebindClient(t.url, { reconnect: false });
  const text = new RebindClient(t.url, { reconnect: false, encoding: 'json' });
  await binary.connect();
  await text.connect();
  await binary.join({ name: 'ivy' });
  // (Called as JSON: a text frame carries an unpaired surrogate as an escape; MessagePack would turn it into U+FFFD on the way.)
  const { player } = await text.join({ name: 'jo' });
  const bad = 'room\ud800';
  expect(await outcome(text, 'n.join', 'g0')).toEqual({ value: 'ok' });
  for (const [handler, payload] of [
    ['n.join', bad],
    ['n.leave', bad],
    ['n.view', bad],
    ['n.viaRoom', bad],
    ['n.broadcast', { room: bad, event: 'e' }],
    ['n.broadcast', { room: 'g0', event: 'e\ud800' }],
    ['n.send', 'e\udfff'],
    ['n.join', 'r'.repeat(257)],
    ['n.join', ''],
  ] as const) {
    expect(await outcome(text, handler, payload), `${handler} ${JSON.stringify(payload).slice(0, 40)}`).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/room name|event/) });
  }
  expect(await outcome(text, 'n.join', 'g1')).toEqual({ value: 'ok' });
  expect(await outcome(text, 'n.join', 'r'.repeat(256))).toEqual({ value: 'ok' });
  expect(await outcome(text, 'n.viaRoom', 'g1')).toEqual({ value: 'fine' });
  // The saved rooms: what a restart gives back.
  const sessions = t.server.host.registry.get('$sessions') as unknown as Table<{ rooms: string[] }>;
  expect(sessions.get(player)!.rooms).toEqual(expect.arrayContaining(['g0', 'g1', 'r'.repeat(256)]));
  // The same error, read by both kinds of client: U+FFFD where the surrogate was.
  const fromBinary = await outcome(binary, 'n.refuse', null);
  const fromText = await outcome(text, 'n.refuse', null);
  expect(fromBinary).toEqual({ code: 'ODD\ufffd', message: expect.stringContaining('no \ufffd here') });
  expect(fromText).toEqual(fromBinary);
  binary.close();
  text.close();
}, 30_000);
