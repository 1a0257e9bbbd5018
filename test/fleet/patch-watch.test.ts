import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GameServer } from '../../server/server.ts';
import { TempProject, waitFor } from '../helpers/project.ts';
import { redisOrSkip, startRedis, type TestRedis } from '../helpers/redis.ts';

// --watch on a node of a fleet: a save patches the whole fleet, as rebind
// patch does; a save that one node refuses lands on none.

const mod = (v: number, init = '') => `
import { flags } from '../state/flags';
export function init() { ${init} }
export function v() { return ${v}; }
export function setBad() { flags.update((d) => { d.bad = true; }); }
`;
const FLAGS = `
import { defineStore } from '../server/api';
export const flags = defineStore('flags', { bad: false }, { version: 1 });
`;

describe.skipIf(!redisOrSkip())('--watch on a fleet node', () => {
  let redis: TestRedis;
  const projects: TempProject[] = [];
  const servers: GameServer[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    for (const watch of [true, false]) {
      const project = new TempProject({ 'state/flags.ts': FLAGS, 'logic/m.ts': mod(1) });
      projects.push(project);
      servers.push(await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1', adminPort: 0, dataDir: project.path('data'), fleet: redis.url, watch }));
    }
    await waitFor(async () => (await servers[0]!.fleet!.liveNodes()).length === 2, 15_000, 'two nodes');
    for (const s of servers) await s.fleetPatcher!.local.synced();
  }, 60_000);
  afterAll(async () => {
    for (const s of servers) await s.stop();
    for (const p of projects) p.cleanup();
    await redis?.stop();
  });

  const v = (s: GameServer) => s.host.call('m.v');

  it('a save on the watching node lands on every node; one the other node refuses lands on none', async () => {
    const [watching, other] = servers;
    projects[0]!.write('logic/m.ts', mod(2));
    await waitFor(() => v(watching!) === 2 && v(other!) === 2, 15_000, 'the save live on both nodes');
    // Each node's own record: the fleet's patch, asked by the watcher.
    for (const s of [watching!, other!]) expect(s.host.history().at(-1)).toMatchObject({ origin: 'watch', ok: true, modules: [{ module: 'm', newVersion: 2 }] });

    other!.host.call('m.setBad');
    projects[0]!.write('logic/m.ts', mod(3, 'if (flags.get().bad) throw new Error("bad on this node");'));
    await waitFor(() => other!.host.history().at(-1)?.error?.code === 'PATCH_INIT_ERROR', 15_000, 'the other node to refuse');
    await waitFor(() => watching!.host.history().at(-1)?.error?.code === 'FLEET_ABORTED', 15_000, 'the watching node to abort');
    expect(v(watching!)).toBe(2);
    expect(v(other!)).toBe(2);
  }, 60_000);
});
