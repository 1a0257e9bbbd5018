import { afterEach, describe, expect, it } from 'vitest';
import { GameServer } from '../../server/server.ts';
import { TempProject } from '../helpers/project.ts';

const STATE = `
import { defineStore, defineTable } from '../server/api';
export const heroes = defineTable<any>('heroes', { version: 1 });
export const config = defineStore<any>('config', { speed: 5 }, { version: 1 });
`;
const V1 = `
import { client } from '../server/api';
import { heroes } from '../state/heroes';
export function add(ctx: unknown, p: { id: string; name: string }) { heroes.set(p.id, { name: p.name }); }
export function describe(ctx: unknown, p: { id: string }) { return 'v1:' + heroes.get(p.id)?.name; }
`;
// Splits name into first/last, and gives config a units field: two stores, versions 1 -> 2.
const V2 = `
import { heroes, config } from '../state/heroes';
export const migrations = {
  heroes: { 1: (draft: any) => { for (const id of Object.keys(draft)) { const [first, last = ''] = draft[id].name.split(' '); draft[id] = { first, last }; } } },
  config: { 1: (draft: any) => { draft.units = 'px/s'; } },
};
export function describe(ctx: unknown, p: { id: string }) { const h = heroes.get(p.id); return 'v2:' + h.first + '/' + h.last + ' ' + config.get().units; }
export function add(ctx: unknown, p: { id: string; name: string }) { const [first, last = ''] = p.name.split(' '); heroes.set(p.id, { first, last }); }
`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function boot(project: TempProject): Promise<GameServer> {
  const server = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1', dataDir: project.path('data') });
  let stopped = false;
  cleanups.push(async () => {
    if (!stopped) await server.stop();
  });
  const stop = server.stop.bind(server);
  server.stop = async () => {
    stopped = true;
    await stop();
  };
  return server;
}

describe('schema migrations in a patch', () => {
  it('upgrades live data in the patch transaction and keeps it across restarts, never running twice', async () => {
    const project = new TempProject({ 'state/heroes.ts': STATE, 'logic/heroes.ts': V1 });
    cleanups.push(() => project.cleanup());
    let server = await boot(project);
    server.host.call('heroes.add', { id: 'h1', name: 'Ada Lovelace' });
    project.write('logic/heroes.ts', V2);
    const record = await server.host.patch();
    expect(record).toMatchObject({ ok: true, migrations: ['heroes v1->v2', 'config v1->v2'] });
    expect(server.host.call('heroes.describe', { id: 'h1' })).toBe('v2:Ada/Lovelace px/s');
    expect(server.host.registry.get('heroes').version).toBe(2);
    // A crash right after: the journal carries the migrated data and the new versions.
    await server.persistence!.flushed();
    await server.persistence!.abandon();
    await server.host.stop();
    server.http.close();
    server = await boot(project);
    expect(server.host.registry.get('heroes').version).toBe(2);
    expect(server.host.registry.get('config').version).toBe(2);
    expect(server.host.call('heroes.describe', { id: 'h1' })).toBe('v2:Ada/Lovelace px/s');
    // And after a clean stop (snapshot), again: the migration did not run a second time.
    server.host.call('heroes.add', { id: 'h2', name: 'Grace Hopper' });
    await server.stop();
    server = await boot(project);
    expect(server.host.call('heroes.describe', { id: 'h2' })).toBe('v2:Grace/Hopper px/s');
    expect(server.host.history()[0]!.migrations).toEqual([]);
  });

  it('leaves data and code as they were when a migration throws', async () => {
    const project = new TempProject({ 'state/heroes.ts': STATE, 'logic/heroes.ts': V1 });
    cleanups.push(() => project.cleanup());
    const server = await boot(project);
    server.host.call('heroes.add', { id: 'h1', name: 'Ada Lovelace' });
    const before = (server.host.registry.get('heroes') as unknown as { toObject(): unknown }).toObject();
    project.write('logic/heroes.ts', V2.replace(`draft.units = 'px/s';`, `draft.units = 'px/s'; throw new Error('bad migration');`));
    const record = await server.host.patch();
    expect(record.ok).toBe(false);
    expect(record.error).toMatchObject({ code: 'PATCH_MIGRATION_ERROR', location: { file: 'logic/heroes.ts', line: 5 } });
    expect(record.error!.message).toContain('migration of config from version 1 to 2 threw: bad migration');
    expect((server.host.registry.get('heroes') as unknown as { toObject(): unknown }).toObject()).toEqual(before);
    expect(server.host.registry.get('heroes').version).toBe(1);
    expect(server.host.registry.get('config').version).toBe(1);
    expect(server.host.call('heroes.describe', { id: 'h1' })).toBe('v1:Ada Lovelace');
  });
});
