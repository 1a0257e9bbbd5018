import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { FLEET_GAME } from './game.ts';

// ctx.callRoom on a server without a fleet: every room is here, and the call
// runs here the same way, as its own transaction, after the caller's.

const EXTRA = `
import { client, fail } from '../server/api';
import { tally } from '../state/tally';
// Asks for a bump, then throws: the bump is its own transaction and stays; this handler's write does not.
export const countThenFail = client((ctx, p: { room: string }) => {
  ctx.callRoom(p.room, 'game.bump', { room: p.room }).catch(() => undefined);
  tally.update((d) => { d.byRoom['never'] = 1; });
  throw new Error('after the call');
});
export const peek = client(() => tally.get().byRoom);
export function refuse() { fail('NOPE', 'this room says no'); }
export const askRefuse = client((ctx) => ctx.callRoom('any', 'extra.refuse'));
`;

describe('ctx.callRoom without a fleet', () => {
  let server: TestServer;
  let client: RebindClient;
  beforeAll(async () => {
    server = await startServer({ ...FLEET_GAME, 'logic/extra.ts': EXTRA });
    client = new RebindClient(server.url, { reconnect: false });
    await client.connect();
    await client.join({ name: 'solo' });
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('runs the handler here and resolves to its result', async () => {
    expect(await client.call('game.count', { room: 'any' })).toBe(1);
    expect(await client.call('game.count', { room: 'any' })).toBe(2);
  });

  it("is its own transaction: it commits even when the caller's transaction does not", async () => {
    await expect(client.call('extra.countThenFail', { room: 'solo-room' })).rejects.toMatchObject({ code: 'HANDLER_ERROR' });
    expect(await client.call('extra.peek')).toEqual({ any: 2, 'solo-room': 1 });
  });

  it("passes the handler's error on with its code", async () => {
    await expect(client.call('extra.askRefuse')).rejects.toMatchObject({ code: 'NOPE', message: 'this room says no' });
  });
});
