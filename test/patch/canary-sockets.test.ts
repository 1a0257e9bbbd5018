import { afterAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// The canary acceptance over real sockets: 1,000 players, each on a
// WebSocket of its own (the protocol has one player per connection), call
// the canaried handler; 5-15% of the calls reach the new code, and no player
// sees both versions during the window, also after reconnecting. The
// server's own per-version counts agree with what the players saw.

const shop = (v: string) => `import { client } from '../server/api';
export const which = client((ctx: { player: string }) => ({ v: '${v}', player: ctx.player }));
`;
const PLAYERS = 1000;
const ROUNDS = 3;

let t: TestServer | undefined;
const clients: RebindClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  await t?.stop();
});

/** Connects and joins `names` in batches, so the accept queue is not a thousand deep at once. */
async function connectAll(url: string, names: readonly string[]): Promise<Array<{ client: RebindClient; player: string }>> {
  const out: Array<{ client: RebindClient; player: string }> = [];
  for (let i = 0; i < names.length; i += 100) {
    out.push(
      ...(await Promise.all(
        names.slice(i, i + 100).map(async (name) => {
          const client = new RebindClient(url, { reconnect: false });
          clients.push(client);
          await client.connect();
          const joined = await client.join({ name });
          return { client, player: joined.player };
        }),
      )),
    );
  }
  return out;
}

it('a 10% canary sends 5-15% of 1,000 socket players\' calls to the new code, never one player to both, reconnects included', async () => {
  t = await startServer({ 'logic/shop.ts': shop('v1') }, { tickHz: 20, limits: { maxConnectionsPerAddress: 0 } });
  const names = Array.from({ length: PLAYERS }, (_, i) => `c${i}`);
  const players = await connectAll(t.url, names);
  expect(new Set(players.map((p) => p.player)).size).toBe(PLAYERS);

  t.project.write('logic/shop.ts', shop('v2'));
  // A long window: the canary is running for the whole test (the promotion is canary.test.ts's).
  const patch = await t.server.host.engine.patch({ modules: ['shop'], origin: 'cli', canary: 0.1, verify: { windowMs: 600_000 } });
  expect(patch).toMatchObject({ ok: true, canary: 0.1 });

  const seen = new Map<string, Set<string>>();
  let calls = 0;
  let toNew = 0;
  const call = async (client: RebindClient, player: string) => {
    const answer = (await client.call('shop.which')) as { v: string; player: string };
    expect(answer.player).toBe(player);
    calls++;
    if (answer.v === 'v2') toNew++;
    (seen.get(player) ?? seen.set(player, new Set()).get(player)!).add(answer.v);
  };
  for (let round = 0; round < ROUNDS; round++) await Promise.all(players.map(({ client, player }) => call(client, player)));

  // A tenth of the players drop their connection and come back on a new one, as the same player (their name).
  const leaving = players.slice(0, PLAYERS / 10);
  for (const { client } of leaving) client.close();
  const back = await connectAll(
    t.url,
    leaving.map((_, i) => names[i]!),
  );
  expect(back.map((b) => b.player)).toEqual(leaving.map((l) => l.player));
  await Promise.all(back.map(({ client, player }) => call(client, player)));

  expect(calls).toBe(PLAYERS * ROUNDS + PLAYERS / 10);
  expect(toNew / calls).toBeGreaterThanOrEqual(0.05);
  expect(toNew / calls).toBeLessThanOrEqual(0.15);
  // Nobody saw both versions.
  const both = [...seen].filter(([, versions]) => versions.size > 1).map(([player]) => player);
  expect(both).toEqual([]);
  expect(seen.size).toBe(PLAYERS);
  // The server counted the same split, per version, as the players saw it.
  const count = (version: number) => t!.server.host.dispatcher.callStats.ofVersion('shop', version).reduce((n, s) => n + s.calls, 0);
  expect(count(2)).toBe(toNew);
  expect(count(1)).toBe(calls - toNew);
  expect(t.server.host.status().canary).toMatchObject({ share: 0.1 });
}, 60_000);
