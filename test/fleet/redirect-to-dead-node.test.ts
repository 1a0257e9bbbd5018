import { beforeAll, describe, expect, it } from 'vitest';
import { fleetForTests, untilNodesSeeEachOther, type TestFleet } from '../helpers/fleet.ts';
import { waitFor } from '../helpers/project.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// A player sent to a node that was killed a moment ago (the fleet has not
// noticed yet, so placement still chose it): the move fails, and the client
// was left for good on no connection, pointing at the dead node. Now it
// comes back through its first address with the ticket it was given, the
// fleet adopts it once the dead node is noticed, and it can enter the room.

const IDS = ['node-a', 'node-b'];
const SESSION = `
import { fail, type Ctx, type PlaceCtx, type PlaceRequest } from '../server/api';
export function auth(ctx: Ctx, p: { name?: string }) {
  if (!p || typeof p.name !== 'string' || p.name.length === 0) fail('BAD_NAME', 'give a name');
  return 'p-' + p.name;
}
export function join(ctx: Ctx) {}
export function place(ctx: PlaceCtx, r: PlaceRequest) { return r.room.startsWith('b-') ? 'node-b' : undefined; }
`;

describe.skipIf(!redisOrSkip())('fleet: a redirect to a node that just died', () => {
  const files: Record<string, string> = { ...FLEET_GAME, 'logic/session.ts': SESSION };
  IDS.forEach((id, i) => (files[`data-${i}/node-id`] = id + '\n'));
  const under = fleetForTests({ nodes: 2, files });
  let fleet: TestFleet;
  beforeAll(() => {
    fleet = under.fleet;
  });

  it('the client comes back through its first address, keeps its player id, and enters the room once the fleet noticed', async () => {
    const client = await under.join('kd', 0, { backoffMs: [50, 400] });
    const events: string[] = [];
    for (const e of ['close', 'resumed', 'rejoined', 'moved', 'error']) client.on(e, () => events.push(e));
    await fleet.kill(1);
    // Within the heartbeat's lifetime the dead node still looks live: the hook's choice stands, the move fails.
    const first = await client.call('game.enter', { room: 'b-1' }).then(
      () => 'entered',
      (err: { code: string }) => err.code,
    );
    expect(['CONNECT_FAILED', 'entered']).toContain(first);
    // Back on its home node, with the same player, whatever the first answer was.
    await waitFor(() => client.connected && client.url === fleet.nodes[0]!.gameUrl && (events.includes('resumed') || events.includes('rejoined') || first === 'entered'), 20_000, `the client back on node-a (events: ${events.join(', ')})`);
    expect(client.player).toBe('p-kd');
    // Once the fleet knows node-b is gone, the room is placed by load (the hook's node is refused): here.
    await waitFor(async () => (await client.call('game.enter', { room: 'b-1' }).then(() => true, () => false)), 20_000, 'entering b-1 again');
    expect(client.url).toBe(fleet.nodes[0]!.gameUrl);
    expect(client.player).toBe('p-kd');
  }, 60_000);

  it('the same for a node frozen (SIGSTOP: its sockets open, nothing answered): the move gives up after connectTimeoutMs', async () => {
    const b = await fleet.restart(1);
    await untilNodesSeeEachOther(fleet);
    // Node-a places b-* rooms on node-b again (it sees it live): a probe player is sent there.
    const probe = await under.join('probe', 0, { backoffMs: [50, 400] });
    await waitFor(async () => (await probe.call('game.enter', { room: `b-probe-${Date.now()}` }).then(() => probe.url === b.gameUrl, () => false)), 20_000, 'a b-* room placed on node-b');
    const client = await under.join('frozen', 0, { backoffMs: [50, 400], connectTimeoutMs: 1500 });
    const events: string[] = [];
    for (const e of ['close', 'resumed', 'rejoined']) client.on(e, () => events.push(e));
    b.proc.proc.kill('SIGSTOP');
    try {
      const first = await client.call('game.enter', { room: 'b-2' }).then(
        () => 'entered',
        (err: { code: string }) => err.code,
      );
      expect(first).toBe('CONNECT_FAILED');
      await waitFor(() => client.connected && client.url === fleet.nodes[0]!.gameUrl && (events.includes('resumed') || events.includes('rejoined')), 20_000, `the client back on node-a (events: ${events.join(', ')})`);
      expect(events.filter((e) => e === 'close').length).toBe(1);
      await waitFor(async () => (await client.call('game.enter', { room: 'b-2' }).then(() => true, () => false)), 20_000, 'entering b-2 again');
      expect(client.url).toBe(fleet.nodes[0]!.gameUrl);
      expect(client.player).toBe('p-frozen');
    } finally {
      b.proc.proc.kill('SIGCONT');
    }
  }, 60_000);
});
