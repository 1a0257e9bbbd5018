import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RebindClient } from '../../client/index.ts';
import { FleetNode } from '../../server/fleet/node.ts';
import { startFleet, type TestFleet } from '../helpers/fleet.ts';
import { startServerProcess } from '../helpers/process.ts';
import { TempProject, waitFor } from '../helpers/project.ts';
import { freePort, redisOrSkip } from '../helpers/redis.ts';
import { FLEET_GAME } from './game.ts';

// Real node processes on a real redis-server: registration, a node killed
// with -9 noticed within seconds, a Redis restart survived, a restarted node
// keeping its id. An observer node in this process watches the fleet.

const GAME = { 'logic/hello.ts': `export function hi() { return 'hi'; }\n` };

describe.skipIf(!redisOrSkip())('fleet nodes', () => {
  let fleet: TestFleet;
  let observer: FleetNode;
  const lost: Array<{ id: string; at: number; claimed: boolean }> = [];
  beforeAll(async () => {
    fleet = await startFleet({ nodes: 2, files: GAME });
    observer = new FleetNode({ url: fleet.redis.url, gameUrl: 'ws://127.0.0.1:1', load: () => ({ players: 0, rooms: 0 }), code: () => ({}) });
    observer.events.on('node-lost', (id, claimed) => lost.push({ id, at: Date.now(), claimed }));
  }, 60_000);
  afterAll(async () => {
    await observer?.leave();
    await fleet?.stop();
  });

  it('each node registers its id, game and admin URL, load and live code; each sees the other', async () => {
    const [n0, n1] = fleet.nodes;
    await waitFor(async () => (await observer.liveNodes()).length === 3, 10_000, 'two nodes and the observer');
    const records = await observer.liveNodes();
    const r0 = records.find((r) => r.id === n0!.id);
    expect(r0).toMatchObject({ gameUrl: n0!.gameUrl, adminUrl: n0!.adminUrl, load: { players: 0, rooms: 0 } });
    expect(r0!.code.hello).toMatchObject({ version: 1, hash: expect.stringMatching(/^[0-9a-f]{8,}$/) });
    await waitFor(() => n0!.proc.output().includes(`node ${n1!.id} is live`), 10_000, 'node 0 to see node 1');
    await waitFor(() => n1!.proc.output().includes(`node ${n0!.id} is live`), 10_000, 'node 1 to see node 0');
  }, 20_000);

  it('a node killed with -9 is reported lost within seconds, and exactly one node claims the clean-up', async () => {
    const victim = fleet.nodes[1]!;
    const killedAt = Date.now();
    await fleet.kill(1);
    await waitFor(() => lost.some((l) => l.id === victim.id), 15_000, 'the observer to report the kill');
    const seenAfter = lost.find((l) => l.id === victim.id)!.at - killedAt;
    // TTL 3 s + one heartbeat + one more to be sure; 10 s leaves room for a loaded machine.
    expect(seenAfter).toBeLessThan(10_000);
    await waitFor(() => fleet.nodes[0]!.proc.output().includes(`NODE LOST ${victim.id}`), 10_000, 'node 0 to report the kill');
    const claims = (fleet.nodes[0]!.proc.output().match(new RegExp(`NODE LOST ${victim.id}[^\\n]*cleans up`, 'g')) ?? []).length + lost.filter((l) => l.id === victim.id && l.claimed).length;
    expect(claims).toBe(1);
    expect((await observer.liveNodes()).map((r) => r.id)).not.toContain(victim.id);
  }, 30_000);

  it('restarted from its data folder, the node is the same node again', async () => {
    const before = fleet.nodes[1]!.id;
    const again = await fleet.restart(1);
    expect(again.id).toBe(before);
    await waitFor(async () => (await observer.liveNodes()).some((r) => r.id === before && r.gameUrl === again.gameUrl), 10_000, 'the restarted node registered');
  }, 30_000);

  it('Redis restarted (empty): nodes keep running and register again; no node is reported lost', async () => {
    const lostBefore = lost.length;
    const logFrom = fleet.nodes.map((n) => n.proc.output().length);
    await fleet.redis.restart();
    await waitFor(async () => (await observer.liveNodes()).length === 3, 15_000, 'both nodes and the observer registered again');
    // A few more heartbeats: a node judged too early after the restart would show up here.
    await new Promise((r) => setTimeout(r, 4000));
    expect(lost.slice(lostBefore)).toEqual([]);
    for (const node of fleet.nodes) {
      const since = node.proc.output().slice(logFrom[node.index]);
      expect(node.proc.proc.exitCode).toBeNull();
      expect(since).not.toMatch(/NODE LOST/);
      expect(since).toMatch(/FLEET REDIS DOWN/);
      expect(since).toMatch(/fleet Redis back/);
    }
    // Still serving: a plain WebSocket connects to each node's game port.
    for (const node of fleet.nodes) {
      await new Promise<void>((resolve, reject) => {
        const socket = new WebSocket(node.gameUrl);
        socket.once('open', () => {
          socket.close();
          resolve();
        });
        socket.once('error', reject);
      });
    }
  }, 40_000);
});

describe.skipIf(!redisOrSkip())('a node whose Redis is not there', () => {
  it('starts, says so once, and serves its own rooms; a --fleet that is not a Redis URL stops the start with exit code 2', async () => {
    const project = new TempProject(FLEET_GAME);
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    const node = await startServerProcess(['--root', project.root, '--data', project.path('data'), '--fleet', nobody], { NO_COLOR: '1' });
    try {
      await waitFor(() => /FLEET REDIS DOWN/.test(node.output()), 10_000, 'the warning');
      const client = new RebindClient(node.gameUrl, { reconnect: false });
      await client.connect();
      await client.join({ name: 'alone' });
      expect(await client.call('game.enter', { room: 'here' })).toEqual({ room: 'here', player: 'p-alone' });
      expect(await client.call('game.count', { room: 'here' })).toBe(1);
      client.close();
      await new Promise((r) => setTimeout(r, 2500));
      expect(node.output().match(/FLEET REDIS DOWN/g)).toHaveLength(1);
      expect(node.proc.exitCode).toBeNull();
    } finally {
      await node.stop();
      project.cleanup();
    }
    const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
    const bad = spawnSync(process.execPath, ['--import', 'tsx', main, '--port', '0', '--fleet', 'localhost:6379'], { encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--fleet must be a Redis URL such as redis:\/\/127\.0\.0\.1:6379, got "localhost:6379"/);
  }, 60_000);
});
