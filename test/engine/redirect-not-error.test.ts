import { afterEach, expect, it } from 'vitest';
import { rebindError } from '../../server/errors.ts';
import { Host } from '../../server/host.ts';
import { totals } from '../../server/metrics/call-stats.ts';
import { TempProject } from '../helpers/project.ts';

// On a fleet, a handler that joins a room no node holds yet is stopped with
// ROOM_ELSEWHERE while the room is claimed, and run again (here, or on the
// room's node). That first run is not a call that failed: counted as one, a
// patch's --verify saw half the calls of a room-creating handler fail and
// rolled a healthy patch back. A logic error with the same code still counts.

const ROOM = `
import { client, fail, type Ctx } from '../server/api';
export const enter = client((ctx: Ctx, p: { room: string }) => { ctx.join(p.room); return p.room; });
export const enterLater = client(async (ctx: Ctx, p: { room: string }) => { await Promise.resolve(); ctx.join(p.room); return p.room; });
export const fake = client(() => fail('ROOM_ELSEWHERE', 'logic says so'));
`;

let host: Host | undefined;
let project: TempProject | undefined;
afterEach(async () => {
  await host?.stop();
  project?.cleanup();
});

/** A host whose fleet (stood in for by its outbox) sends the first join of each room elsewhere, as a claim does. */
async function start(): Promise<Host> {
  project = new TempProject({ 'logic/room.ts': ROOM });
  host = await Host.open({ root: project.root });
  const claimed = new Set<string>();
  host.outbox = {
    send: () => undefined,
    broadcast: () => undefined,
    join: () => undefined,
    leave: () => undefined,
    setRoomView: () => undefined,
    placeRoom(room: string, player: string) {
      if (claimed.has(room)) return;
      claimed.add(room);
      throw rebindError('ROOM_ELSEWHERE', `room "${room}" is being placed on this node`, { details: { room, node: 'here', player } });
    },
  };
  return host;
}

const counts = (h: Host, name: string) => {
  const stats = h.dispatcher.stats.get(name);
  const version = h.bindings.live.get('room')!;
  const perVersion = totals(h.dispatcher.callStats.ofVersion('room', version.version).filter((s) => s.handler === name));
  return { calls: stats?.calls ?? 0, errors: stats?.errors ?? 0, versionCalls: perVersion.calls, versionErrors: perVersion.errors };
};

it('a run stopped by a room being placed is neither a call nor an error; the run again is one call', async () => {
  const h = await start();
  for (const room of ['a', 'b']) {
    expect(() => h.call('room.enter', { room }, { player: 'p1', origin: 'client' })).toThrow(expect.objectContaining({ code: 'ROOM_ELSEWHERE' }));
    expect(h.call('room.enter', { room }, { player: 'p1', origin: 'client' })).toBe(room);
  }
  expect(counts(h, 'room.enter')).toEqual({ calls: 2, errors: 0, versionCalls: 2, versionErrors: 0 });
});

it('the same for an async handler, and it is not left in flight', async () => {
  const h = await start();
  await expect(h.call('room.enterLater', { room: 'c' }, { player: 'p1', origin: 'client' }) as Promise<unknown>).rejects.toMatchObject({ code: 'ROOM_ELSEWHERE' });
  await expect(h.call('room.enterLater', { room: 'c' }, { player: 'p1', origin: 'client' }) as Promise<unknown>).resolves.toBe('c');
  expect(counts(h, 'room.enterLater')).toEqual({ calls: 1, errors: 0, versionCalls: 1, versionErrors: 0 });
  const version = h.bindings.live.get('room')!;
  expect(h.dispatcher.callStats.ofVersion('room', version.version).every((s) => s.inFlight.size === 0)).toBe(true);
});

it("logic's own fail('ROOM_ELSEWHERE') is an error of the handler like any other", async () => {
  const h = await start();
  expect(() => h.call('room.fake', null, { player: 'p1', origin: 'client' })).toThrow(expect.objectContaining({ code: 'ROOM_ELSEWHERE' }));
  expect(counts(h, 'room.fake')).toEqual({ calls: 1, errors: 1, versionCalls: 1, versionErrors: 1 });
});
