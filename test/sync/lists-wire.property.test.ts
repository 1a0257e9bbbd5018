import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { GameServer } from '../../server/server.ts';
import { onCommit } from '../../server/store/transaction.ts';
import { waitFor } from '../helpers/project.ts';
import { startServer } from '../helpers/server.ts';

// End to end: random push/shift/splice/sort/assign sequences on arrays, made
// by a real handler on a real server, reach real clients (one there from the
// start, one joining midway) through the room sync as the server holds them,
// and a restart on the same data folder recovers them from the journal.

const STATE = `
import { defineStore, defineTable } from '../server/api';
export const lists = defineStore('lists', { log: [] as Array<{ n: number; t: string }>, nums: [] as number[], rooms: [{ events: [] as string[] }] as Array<{ events: string[] }> });
export const feeds = defineTable<{ items: string[] }>('feeds', { rows: { f: { items: [] } } });
`;

// The steps, applied by the game's own code inside one handler (one transaction).
const LOGIC = `
import { client, type Ctx } from '../server/api';
import { lists, feeds } from '../state/lists';
export function init(ctx: Ctx) { ctx.setRoomView('lobby', { lists: true, feeds: true }); }
let counter = 0;
const item = (l: string) => (l === 'log' ? { n: ++counter, t: 'line ' + counter } : l === 'nums' ? ++counter % 3 : 'e' + (++counter % 4));
function list(d: any, l: string): any[] | undefined { return l === 'events' ? d.rooms[0]?.events : d[l]; }
export const apply = client((ctx, steps: any[]) => {
  for (const s of steps) {
    if (s.k === 'feed') { feeds.update('f', (r) => { for (let i = 0; i < s.n; i++) r.items.push('f' + ++counter); if (r.items.length > 5) r.items.splice(0, r.items.length - 5); }); continue; }
    if (s.k === 'room') { lists.update((d) => { if (s.add) d.rooms.push({ events: [] }); else if (d.rooms.length > 1) d.rooms.shift(); }); continue; }
    if (s.k === 'assign') { const old = list(lists.get(), s.l); if (old) lists.update((d: any) => { const next = [...old.slice(1), item(s.l)]; if (s.l === 'events') d.rooms[0].events = next; else d[s.l] = next; }); continue; }
    lists.update((d) => {
      const a = list(d, s.l);
      if (!a) return;
      if (s.k === 'push') { for (let i = 0; i < s.n; i++) a.push(item(s.l)); if (a.length > 6) a.splice(0, a.length - 6); }
      else if (s.k === 'shift') for (let i = 0; i < s.n; i++) a.shift();
      else if (s.k === 'splice') a.splice(s.at, s.rm, ...Array.from({ length: s.ins }, () => item(s.l)));
      else if (s.k === 'sort') a.sort((x: any, y: any) => (typeof x === 'object' ? y.n - x.n : String(y).localeCompare(String(x))));
      else if (s.k === 'edit' && a.length > 0) { if (typeof a[0] === 'object') a[0].t += '!'; else a[a.length - 1] = 7; }
    });
  }
  return counter;
});
`;

const LIST = fc.constantFrom('log', 'nums', 'events');
const step = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('push'), l: LIST, n: fc.integer({ min: 1, max: 3 }) }) },
  fc.record({ k: fc.constant('shift'), l: LIST, n: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ k: fc.constant('splice'), l: LIST, at: fc.nat(6), rm: fc.nat(3), ins: fc.nat(2) }),
  fc.record({ k: fc.constantFrom('sort', 'edit', 'assign'), l: LIST }),
  fc.record({ k: fc.constant('room'), add: fc.boolean() }),
  fc.record({ k: fc.constant('feed'), n: fc.integer({ min: 1, max: 3 }) }),
);

async function member(url: string, name: string): Promise<RebindClient> {
  const c = new RebindClient(url, { reconnect: false });
  await c.connect();
  await c.join({ name });
  return c;
}

const held = (server: GameServer) => ({ lists: server.host.registry.get('lists').snapshot(), feeds: server.host.registry.get('feeds').snapshot() });
const seen = (c: RebindClient) => ({ lists: c.state('lobby', 'lists'), feeds: c.state('lobby', 'feeds') });

describe('lists on the wire', () => {
  it('replicas and a restart agree with the server after random array changes', async () => {
    let trims = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(step, { minLength: 1, maxLength: 4 }), { minLength: 4, maxLength: 14 }), async (batches) => {
        const t = await startServer({ 'state/lists.ts': STATE, 'logic/lists.ts': LOGIC });
        const dataDir = t.project.path('data');
        await t.server.stop();
        // Again with a data folder (startServer has none): the journal is part of what is checked.
        let server = await GameServer.start({ root: t.project.root, port: 0, host: '127.0.0.1', dataDir, fsync: 'always' });
        const clients: RebindClient[] = [];
        // Counts the trims committed (in this process: the server runs here), so the run is known to exercise them.
        const off = onCommit((changes) => changes.forEach((c) => (trims += c.patches.filter((p) => p.op === 'trim').length)));
        try {
          const writer = await member(server.url, 'w');
          clients.push(writer);
          for (const [i, batch] of batches.entries()) {
            if (i === Math.floor(batches.length / 2)) clients.push(await member(server.url, 'late'));
            await writer.call('lists.apply', batch);
            for (const c of clients) await waitFor(() => isDeepStrictEqual(seen(c), held(server)), 5000, `replica of ${c.player} after batch ${i}`);
          }
          const final = held(server);
          for (const c of clients.splice(0)) c.close();
          await server.stop();
          server = await GameServer.start({ root: t.project.root, port: 0, host: '127.0.0.1', dataDir, fsync: 'always' });
          expect(held(server)).toEqual(final);
          const again = await member(server.url, 'again');
          clients.push(again);
          await waitFor(() => isDeepStrictEqual(seen(again), held(server)), 5000, 'a replica after the restart');
        } finally {
          off();
          for (const c of clients) c.close();
          await server.stop();
          t.project.cleanup();
        }
      }),
      { numRuns: 12 },
    );
    expect(trims).toBeGreaterThan(10);
  }, 300_000);
});
