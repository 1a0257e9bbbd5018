import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { GameServer } from '../../server/server.ts';
import { demoProject } from '../helpers/demo.ts';
import { waitFor, type TempProject } from '../helpers/project.ts';

type Players = Record<string, { x: number; y: number; score: number; name: string; online: boolean }>;
type Items = Record<string, { x: number; y: number; kind: string }>;
type World = { chat: Array<{ from: string; text: string }>; leaderboard: Array<{ name: string; score: number }> };

let project: TempProject;
let server: GameServer;
beforeAll(async () => {
  project = demoProject();
  // These tests watch players from afar: everyone sees everyone (test/sync/views.test.ts covers the radius).
  project.write('logic/lib/rules.ts', readFileSync(project.path('logic/lib/rules.ts'), 'utf8').replace(/export const VIEW_RADIUS = \d+;/, 'export const VIEW_RADIUS = 0;'));
  server = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await server.stop();
  project.cleanup();
});

async function player(name: string): Promise<RebindClient> {
  const c = new RebindClient(server.url, { reconnect: false });
  await c.connect();
  await c.join({ name });
  await waitFor(() => c.state('arena', 'players') !== undefined, 2000, `${name}'s arena snapshot`);
  return c;
}

describe('the demo arena', () => {
  it('lets two players see each other move, and a patch to SPEED changes how fast', async () => {
    const ann = await player('ann');
    const bob = await player('bob');
    const annOnBob = () => bob.state<Players>('arena', 'players')!['p-ann']!;
    expect(annOnBob()).toMatchObject({ name: 'ann', online: true });
    const x0 = annOnBob().x;
    const dir = x0 > 400 ? -1 : 1;
    await ann.call('arena.move', { dx: dir, dy: 0 });
    await waitFor(() => Math.abs(annOnBob().x - x0) >= 40, 2000, 'bob to see ann move');
    await ann.call('arena.move', { dx: 0, dy: 0 });

    const speedOf = async () => {
      const start = annOnBob().x;
      const d = start > 400 ? -1 : 1;
      await ann.call('arena.move', { dx: d, dy: 0 });
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 300));
      await ann.call('arena.move', { dx: 0, dy: 0 });
      await new Promise((r) => setTimeout(r, 100));
      return Math.abs(annOnBob().x - start) / ((Date.now() - t0) / 1000);
    };
    const before = await speedOf();
    const rules = project.path('logic/lib/rules.ts');
    project.write('logic/lib/rules.ts', readFileSync(rules, 'utf8').replace('export const SPEED = 200;', 'export const SPEED = 600;'));
    const record = await server.host.patch();
    expect(record.ok).toBe(true);
    expect(record.modules.filter((m) => m.change === 'updated').map((m) => m.module).sort()).toEqual(['arena']);
    expect(await ann.call('arena.info')).toMatchObject({ speed: 600 });
    const after = await speedOf();
    expect(after).toBeGreaterThan(before * 2);
    expect(ann.connected && bob.connected).toBe(true);
    ann.close();
    bob.close();
  });

  it('scores a pickup, respawns the item through ctx.schedule, and ranks the leaderboard', async () => {
    const cat = await player('cat');
    const items = () => cat.state<Items>('arena', 'items')!;
    // 15 at start, less whatever the walks of the first test picked up (they respawn after 3 s).
    expect(Object.keys(items()).length).toBeGreaterThanOrEqual(10);
    // Put the player on an item through an internal handler (what an operator's `rebind call` does), then step.
    const [itemId, item] = Object.entries(items())[0]!;
    server.host.call('arena.place', { player: 'p-cat', x: item.x, y: item.y });
    await cat.call('arena.move', { dx: 1, dy: 0 });
    await waitFor(() => cat.state<Players>('arena', 'players')!['p-cat']!.score > 0, 2000, 'the pickup');
    await cat.call('arena.move', { dx: 0, dy: 0 });
    expect(items()[itemId]).toBeUndefined();
    expect(server.host.status().pendingTimers).toBeGreaterThan(0);
    await waitFor(() => cat.state<World>('arena', 'world')!.leaderboard.some((r) => r.name === 'cat'), 2000, 'the leaderboard');
    cat.close();
  });

  it('runs chat commands and refuses unknown ones with a code', async () => {
    const dan = await player('dan');
    await dan.call('chat.say', { text: 'hello' });
    await dan.call('chat.say', { text: '/me waves' });
    await expect(dan.call('chat.say', { text: '/nope' })).rejects.toMatchObject({ code: 'UNKNOWN_COMMAND' });
    await expect(dan.call('chat.say', { text: '' })).rejects.toMatchObject({ code: 'BAD_TEXT' });
    await waitFor(() => dan.state<World>('arena', 'world')!.chat.some((l) => l.text === '* dan waves'), 2000, 'the /me line');
    expect(dan.state<World>('arena', 'world')!.chat.some((l) => l.from === 'dan' && l.text === 'hello')).toBe(true);
    await expect(dan.call('arena.place', { player: 'p-dan', x: 0, y: 0 })).rejects.toMatchObject({ code: 'NOT_PUBLIC' });
    dan.close();
  });
});
