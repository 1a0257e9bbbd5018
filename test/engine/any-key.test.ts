import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { applyWirePatches } from '../../client/replica.ts';
import { defineStore, defineTable } from '../../server/api.ts';
import { allowStandaloneStores } from '../../server/store/define.ts';
import { onCommit, type StoreChange } from '../../server/store/transaction.ts';
import { waitFor } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

allowStandaloneStores(); // this file makes stores directly, with no server

// Any string is a key: in tables, in objects inside stores, in the patches,
// on the wire in both encodings, and in the client's replica, unchanged.

const KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];

function ownKeysOf(value: unknown): string[] {
  return Object.keys(value as object).sort();
}

function recordChanges(): { changes: StoreChange[]; stop: () => void } {
  const changes: StoreChange[] = [];
  const stop = onCommit((c) => void changes.push(...c));
  return { changes, stop };
}

describe('in memory', () => {
  it('tables take any id, and their snapshots and patches keep it as an own key', () => {
    const t = defineTable<{ n: number }>('any-ids');
    const { changes, stop } = recordChanges();
    for (const id of KEYS) t.set(id, { n: 1 });
    for (const id of KEYS) t.update(id, (d) => void (d.n += 1));
    stop();
    expect(t.size).toBe(KEYS.length);
    for (const id of KEYS) expect(t.get(id)).toEqual({ n: 2 });
    const snap = t.snapshot();
    expect(Object.getPrototypeOf(snap)).toBe(Object.prototype);
    expect(ownKeysOf(snap)).toEqual([...KEYS].sort());
    // The same patches rebuild the same rows elsewhere (what the journal and sync do).
    const copy = defineTable<{ n: number }>('any-ids-copy');
    for (const change of changes) copy.replay(change.patches);
    expect(copy.snapshot()).toEqual(snap);
    expect(ownKeysOf(copy.snapshot())).toEqual([...KEYS].sort());
    expect(t.delete('__proto__')).toBe(true);
    expect(t.has('__proto__')).toBe(false);
  });

  it('objects with such keys inside rows and value stores can be read, changed and replayed', () => {
    const row = JSON.parse('{"names": {"__proto__": {"hp": 1}, "constructor": {"hp": 1}, "toString": {"hp": 1}}}') as { names: Record<string, { hp: number }> };
    const t = defineTable<typeof row>('any-nested');
    const s = defineStore('any-value', JSON.parse('{"byName": {"__proto__": 1, "constructor": 2}}') as { byName: Record<string, number> });
    const { changes, stop } = recordChanges();
    t.set('r', row);
    t.update('r', (d) => {
      d.names['__proto__']!.hp = 7;
      d.names['constructor']!.hp = 8;
    });
    s.update((d) => {
      d.byName['toString'] = 3;
    });
    s.update((d) => {
      d.byName = { ...d.byName, ['__proto__']: 10, ['hasOwnProperty']: 4 };
    });
    stop();
    expect(t.get('r')!.names['__proto__']).toEqual({ hp: 7 });
    expect(Object.getPrototypeOf(t.get('r')!.names)).toBe(Object.prototype);
    expect(ownKeysOf(s.get().byName)).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
    expect(s.get().byName['__proto__']).toBe(10);

    const t2 = defineTable<typeof row>('any-nested-copy');
    const s2 = defineStore('any-value-copy', JSON.parse('{"byName": {"__proto__": 1, "constructor": 2}}') as { byName: Record<string, number> });
    for (const change of changes) (change.store === t ? t2 : s2).replay(change.patches);
    expect(t2.snapshot()).toEqual(t.snapshot());
    expect(s2.get()).toEqual(s.get());
    expect(Object.hasOwn(s2.get().byName, '__proto__')).toBe(true);
  });

  it('refuses, saying what to do instead, a recipe that assigns a __proto__ key (immer would drop it silently)', () => {
    const s = defineStore('any-add', { byName: {} as Record<string, unknown> });
    const refused = expect.objectContaining({ code: 'NOT_PLAIN_DATA', message: expect.stringContaining('use a table') });
    expect(() => s.update((d) => void (d.byName['__proto__'] = 1))).toThrow(refused);
    expect(() => s.update((d) => void (d.byName['__proto__'] = { hp: 1 }))).toThrow(refused);
    const t = defineTable<{ tags: Record<string, number> }>('any-add-rows', { rows: { r: { tags: {} } } });
    expect(() => t.update('r', (d) => void (d.tags['__proto__'] = 1))).toThrow(refused);
    expect(s.get()).toEqual({ byName: {} });
    // Everywhere else the accessor is untouched.
    const plain: Record<string, unknown> = {};
    plain['__proto__'] = { inherited: true };
    expect(plain.inherited).toBe(true);
  });

  it('the client replica applies patches through such keys without touching any prototype', () => {
    const before = { byId: { a: { x: 1 } } };
    const after = applyWirePatches(before, [
      { op: 'add', path: ['byId', '__proto__'], value: { x: 2 } },
      { op: 'add', path: ['byId', 'constructor'], value: { x: 3 } },
      { op: 'replace', path: ['byId', '__proto__', 'x'], value: 4 },
      { op: 'remove', path: ['byId', 'a'] },
    ]) as { byId: Record<string, { x: number }> };
    expect(ownKeysOf(after.byId)).toEqual(['__proto__', 'constructor']);
    expect(after.byId['__proto__']).toEqual({ x: 4 });
    expect(Object.getPrototypeOf(after.byId)).toBe(Object.prototype);
    expect(before).toEqual({ byId: { a: { x: 1 } } });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

const STATE = `
import { defineTable } from '../server/api';
export const named = defineTable<{ by: string; tags: Record<string, number> }>('named');
`;
const LOGIC = `
import { client, type Ctx } from '../server/api';
import { named } from '../state/named';
export function init(ctx: Ctx) { ctx.setRoomView('lobby', { named: true }); }
export const put = client((ctx: Ctx, p: { id: string; tags: Record<string, number> }) => { named.set(p.id, { by: ctx.player!, tags: p.tags }); });
export const bump = client((ctx: Ctx, p: { id: string; tag: string }) => {
  named.update(p.id, (d) => { d.tags = { ...d.tags, [p.tag]: (Object.hasOwn(d.tags, p.tag) ? d.tags[p.tag]! : 0) + 1 }; });
});
export const echo = client((ctx: Ctx, p: Record<string, unknown>) => ({ own: Object.keys(p), proto: Object.getPrototypeOf(p) === Object.prototype, value: p['__proto__'] ?? null }));
`;

describe('on the wire and in the client replica', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ 'state/named.ts': STATE, 'logic/named.ts': LOGIC });
  });
  afterAll(async () => t.stop());

  for (const encoding of ['msgpack', 'json'] as const) {
    it(`keeps __proto__ and friends as own keys both ways (${encoding})`, async () => {
      const c = new RebindClient(t.url, { encoding, reconnect: false });
      await c.connect();
      await c.join({ name: `k-${encoding}` });
      const payload = JSON.parse('{"__proto__": {"x": 1}, "constructor": 2}') as Record<string, unknown>;
      expect(await c.call('named.echo', payload)).toEqual(JSON.parse('{"own": ["__proto__", "constructor"], "proto": true, "value": {"x": 1}}'));
      const id = `__proto__`;
      const tags = JSON.parse('{"__proto__": 1, "toString": 1}') as Record<string, number>;
      await c.call('named.put', { id, tags });
      await c.call('named.put', { id: 'constructor', tags: {} });
      await c.call('named.bump', { id, tag: '__proto__' });
      await c.call('named.bump', { id: 'constructor', tag: 'valueOf' });
      const replica = () => c.state<Record<string, { by: string; tags: Record<string, number> }>>('lobby', 'named');
      const mine = (row: { by: string; tags: Record<string, number> } | undefined) => row?.by === `p-k-${encoding}`;
      await waitFor(() => mine(replica()?.['constructor']) && mine(replica()?.['__proto__']) && replica()!['constructor']!.tags['valueOf'] === 1 && replica()!['__proto__']!.tags['__proto__'] === 2, 2000, 'the replica to catch up');
      const view = replica()!;
      expect(Object.hasOwn(view, '__proto__')).toBe(true);
      expect(Object.getPrototypeOf(view)).toBe(Object.prototype);
      expect(view['__proto__']!.tags).toEqual(JSON.parse('{"__proto__": 2, "toString": 1}'));
      expect(Object.hasOwn(view['__proto__']!.tags, '__proto__')).toBe(true);
      // A second client joining later gets the same from the room's snapshot.
      const late = new RebindClient(t.url, { encoding, reconnect: false });
      await late.connect();
      await late.join({ name: `late-${encoding}` });
      await waitFor(() => late.state('lobby', 'named') !== undefined, 2000, 'the snapshot');
      expect(late.state('lobby', 'named')).toEqual(view);
      expect(Object.hasOwn(late.state<object>('lobby', 'named')!, '__proto__')).toBe(true);
      c.close();
      late.close();
    });
  }
});
