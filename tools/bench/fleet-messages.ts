import { RebindClient } from '../../client/index.ts';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startLocalFleet, type LocalFleet } from '../local-fleet/fleet.ts';
import { HAVE_REDIS, startRedis } from '../local-fleet/redis-server.ts';
import { median, ms, p99, type Row } from './table.ts';

/** The bench's own game names, not the demo's that rebind-env.d.ts types: called untyped, redirects followed as by call(). */
const callBench = (c: RebindClient, name: string, payload?: unknown): Promise<unknown> => (c as unknown as { call(name: string, payload?: unknown): Promise<unknown> }).call(name, payload);

// Messages between the nodes of a fleet: real node processes on one
// redis-server on this machine, players on real sockets. Latency of a
// ctx.send to a player on another node beside one to a player on the same
// node; messages per second delivered by three nodes (every message crossing
// nodes) beside one node (every message local). The load generator (this
// process) shares the machine's cores with the nodes and Redis.

const GAME: Record<string, string> = {
  'logic/session.ts': `
import type { Ctx } from '../server/api';
export function auth(ctx: Ctx, p: { name: string }) { return 'p-' + p.name; }
`,
  'logic/bench.ts': `
import { client } from '../server/api';
export const tell = client((ctx, p: { to: string; t: number }) => { ctx.send(p.to, 'told', p.t); });
export const ping = client(() => true);
export const enter = client((ctx, p: { room: string }) => { ctx.join(p.room); return true; });
export const blast = client((ctx, p: { to: string; n: number }) => { for (let i = 0; i < p.n; i++) ctx.send(p.to, 'blast', i); });
`,
};

async function player(url: string, name: string): Promise<RebindClient> {
  const client = new RebindClient(url, { reconnect: false });
  await client.connect();
  await client.join({ name });
  return client;
}

/** One ctx.send at a time from `from` to `to`: request sent to push received, in ms. */
async function latencies(from: RebindClient, to: RebindClient, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const arrived = new Promise<void>((resolve) => {
      const off = to.on('told', () => {
        off();
        resolve();
      });
    });
    await callBench(from, 'bench.tell', { to: to.player, t: i });
    await arrived;
    const took = performance.now() - started;
    times.push(took);
    // Under the game port's rate limit (200 requests/s per connection).
    if (took < 6) await new Promise((r) => setTimeout(r, 6 - took));
  }
  return times;
}

/**
 * Every sender blasts `perCall` messages per call at its receiver, with a few
 * calls in flight, for `seconds`; messages per second that arrived.
 */
async function throughput(pairs: Array<[RebindClient, RebindClient]>, seconds: number, perCall: number): Promise<number> {
  let arrived = 0;
  for (const [, to] of pairs) to.on('blast', () => arrived++);
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    pairs.flatMap(([from, to]) =>
      [0, 1].map(async () => {
        while (performance.now() < until) {
          // The game port's per-connection rate limit (200 requests/s) applies to the load generator too.
          await callBench(from, 'bench.blast', { to: to.player, n: perCall }).catch(async (err: { code?: string }) => {
            if (err.code !== 'RATE_LIMITED') throw err;
            await new Promise((r) => setTimeout(r, 50));
          });
        }
      }),
    ),
  );
  // What is still on its way counts, up to a second more (it was sent in the window).
  const sentBy = performance.now();
  let last = -1;
  while (last !== arrived && performance.now() - sentBy < 1000) {
    last = arrived;
    await new Promise((r) => setTimeout(r, 100));
  }
  return Math.round(arrived / ((sentBy - started) / 1000));
}

export async function benchFleetMessages(quick: boolean): Promise<Row[]> {
  const section = 'fleet messages';
  if (!HAVE_REDIS) return [{ section, what: 'skipped', rebind: 'no redis-server', baseline: '-', goal: '' }];
  const runs = quick ? 50 : 500;
  const seconds = quick ? 2 : 5;
  const rows: Row[] = [];
  const redis = await startRedis();
  let fleet: LocalFleet | undefined;
  const root = mkdtempSync(path.join(tmpdir(), 'rebind-bench-fleet-messages-'));
  for (const [rel, text] of Object.entries(GAME)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  mkdirSync(path.join(root, 'state'), { recursive: true });
  const clients: RebindClient[] = [];
  const open = async (url: string, name: string) => {
    const c = await player(url, name);
    clients.push(c);
    return c;
  };
  try {
    fleet = await startLocalFleet({ nodes: 3, root, redis });
    const [n0, n1, n2] = fleet.nodes.map((n) => n.gameUrl) as [string, string, string];
    // Presence is written as players join: give every node a heartbeat to see the others.
    await new Promise((r) => setTimeout(r, 2500));
    const a = await open(n0, 'lat-a');
    const b = await open(n0, 'lat-b');
    const c = await open(n1, 'lat-c');
    await latencies(a, b, 20);
    await latencies(a, c, 20);
    const same = await latencies(a, b, runs);
    const cross = await latencies(a, c, runs);
    rows.push({ section, what: `ctx.send latency, other node (median / p99, ${runs} sends)`, rebind: `${ms(median(cross))} / ${ms(p99(cross))}`, baseline: `${ms(median(same))} / ${ms(p99(same))} (same node)`, goal: '' });

    // Redirect, the fleet's answer to a player whose room is on another node: what one move costs, once,
    // beside the same call when the room is on the player's node.
    const moves = quick ? 10 : 40;
    const holder = await open(n0, 'room-holder');
    await callBench(holder, 'bench.enter', { room: 'moves' });
    const enterTimes = async (url: string, tag: string): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < moves; i++) {
        const c = await open(url, `${tag}-${i}`);
        // A first call on the new connection, outside the timing: both sides then measure the same warm call.
        await callBench(c, 'bench.ping');
        const started = performance.now();
        await callBench(c, 'bench.enter', { room: 'moves' });
        times.push(performance.now() - started);
      }
      return times;
    };
    // Placement by load may have put the room on any node: 'stay' players start on the node that holds it, 'move' players on another.
    const roomNode = holder.url;
    const local = await enterTimes(roomNode, 'stay');
    const moved = await enterTimes([n0, n1, n2].find((u) => u !== roomNode)!, 'move');
    rows.push({ section, what: `entering a room on another node: redirect, reconnect, resume, call again (median / p99, ${moves})`, rebind: `${ms(median(moved))} / ${ms(p99(moved))}`, baseline: `${ms(median(local))} / ${ms(p99(local))} (room on the player's node)`, goal: '' });

    const perCall = 50;
    // Three nodes: two senders per node, each to a player on the next node (every message crosses nodes).
    const urls = [n0, n1, n2];
    const crossPairs: Array<[RebindClient, RebindClient]> = [];
    for (let i = 0; i < 6; i++) crossPairs.push([await open(urls[i % 3]!, `x-from-${i}`), await open(urls[(i + 1) % 3]!, `x-to-${i}`)]);
    const three = await throughput(crossPairs, seconds, perCall);
    // Three nodes, every message staying on its node: what the fleet does when rooms keep their players together.
    const localPairs: Array<[RebindClient, RebindClient]> = [];
    for (let i = 0; i < 6; i++) localPairs.push([await open(urls[i % 3]!, `l-from-${i}`), await open(urls[i % 3]!, `l-to-${i}`)]);
    const threeLocal = await throughput(localPairs, seconds, perCall);
    // One node: the same six pairs, all on node 0.
    const onePairs: Array<[RebindClient, RebindClient]> = [];
    for (let i = 0; i < 6; i++) onePairs.push([await open(n0, `o-from-${i}`), await open(n0, `o-to-${i}`)]);
    const one = await throughput(onePairs, seconds, perCall);
    rows.push({ section, what: 'messages/s, 3 nodes, every message to another node', rebind: `${three}/s`, baseline: `${one}/s (1 node, same load)`, goal: '' });
    rows.push({ section, what: 'messages/s, 3 nodes, every message on its own node', rebind: `${threeLocal}/s`, baseline: `${one}/s (1 node, same load)`, goal: '' });
  } finally {
    for (const c of clients) c.close();
    await fleet?.stop();
    await redis.stop();
    rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
  return rows;
}
