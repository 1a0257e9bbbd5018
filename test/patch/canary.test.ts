import { afterEach, expect, it } from 'vitest';
import { runCli } from '../helpers/process.ts';
import { waitFor } from '../helpers/project.ts';
import { startServerWithAdmin, type TestServer } from '../helpers/server.ts';

// A canary: during its window the new version serves a share of players
// chosen by a stable hash of their id, both versions live over the same
// stores; calls without a player and ticks stay on the live version; at the
// end it is promoted, or rolled back if it went over budget.

const TOKEN = 'rebind_canary_test_token';
const STATE = `import { defineStore } from '../server/api';\nexport const ticks = defineStore('ticks', { by: '' });\n`;
const version = (v: string, throws = false) => `import { client } from '../server/api';
import { ticks } from '../state/ticks';
export const which = client((ctx: unknown) => { ${throws ? "throw new Error('broken');" : ''} return '${v}'; });
export function plain() { return '${v}'; }
export function tick() { if (ticks.get().by !== '${v}') ticks.update((d) => { d.by = '${v}'; }); }
`;

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const start = (): Promise<TestServer> => startServerWithAdmin(TOKEN, { 'state/ticks.ts': STATE, 'logic/shop.ts': version('v1') }, { tickHz: 20 });

const players = Array.from({ length: 1000 }, (_, i) => `player-${i}`);

it('a canary at 10% sends 5-15% of 1,000 players to the new code, never one player to both, then is promoted', async () => {
  t = await start();
  const host = t.server.host;
  t.project.write('logic/shop.ts', version('v2'));
  const patch = await host.engine.patch({ modules: ['shop'], origin: 'cli', canary: 0.1, verify: { windowMs: 3000 } });
  expect(patch).toMatchObject({ ok: true, canary: 0.1, modules: [expect.objectContaining({ module: 'shop', oldVersion: 1, newVersion: 2 })] });

  const seen = new Map<string, Set<unknown>>();
  let toNew = 0;
  let calls = 0;
  for (let round = 0; round < 3; round++) {
    for (const player of players) {
      const answer = host.call('shop.which', null, { player, origin: 'client' });
      calls++;
      if (answer === 'v2') toNew++;
      (seen.get(player) ?? seen.set(player, new Set()).get(player)!).add(answer);
    }
  }
  expect(toNew / calls).toBeGreaterThanOrEqual(0.05);
  expect(toNew / calls).toBeLessThanOrEqual(0.15);
  expect([...seen.values()].every((answers) => answers.size === 1)).toBe(true);
  // Calls without a player, and ticks, stay on the live version.
  expect(host.call('shop.plain', null, { player: null })).toBe('v1');
  await new Promise((r) => setTimeout(r, 200));
  expect((host.registry.get('ticks') as unknown as { get(): { by: string } }).get().by).toBe('v1');

  // rebind status shows both versions and the split.
  const status = await runCli(['status', '--server', t.server.admin!.url], { REBIND_ADMIN_TOKEN: TOKEN });
  expect(status.stdout).toMatch(/canary: shop v2 \w{8} serves 10% of players, v1 \w{8} the rest/);

  const report = await host.engine.verification(patch.id)!;
  expect(report.outcome).toBe('confirmed');
  // Promoted: everyone, ticks included, on v2; a confirm record says so.
  expect(host.bindings.live.get('shop')!.version).toBe(2);
  expect(host.status().canary).toBeNull();
  expect(players.slice(0, 50).every((player) => host.call('shop.which', null, { player, origin: 'client' }) === 'v2')).toBe(true);
  expect(host.history(1)[0]).toMatchObject({ kind: 'confirm', modules: [expect.objectContaining({ module: 'shop', oldVersion: 1, newVersion: 2 })] });
  await new Promise((r) => setTimeout(r, 200));
  expect((host.registry.get('ticks') as unknown as { get(): { by: string } }).get().by).toBe('v2');
}, 30_000);

it('a canary over budget is rolled back: its players are back on the live version, which never stopped', async () => {
  t = await start();
  const host = t.server.host;
  t.project.write('logic/shop.ts', version('v2', true));
  const patch = await host.engine.patch({ modules: ['shop'], origin: 'cli', canary: 0.1, verify: { windowMs: 20_000 } });
  expect(patch.ok).toBe(true);
  // A patch of the module under canary waits for the canary's decision.
  expect(await host.engine.patch({ modules: ['shop'], origin: 'cli' })).toMatchObject({ ok: false, error: { code: 'CANARY_REFUSED' } });
  let failed = 0;
  for (const player of players) {
    try {
      expect(host.call('shop.which', null, { player, origin: 'client' })).toBe('v1');
    } catch {
      failed++;
    }
  }
  expect(failed).toBeGreaterThan(10);
  const report = await host.engine.verification(patch.id)!;
  expect(report).toMatchObject({ outcome: 'rolled-back', reason: expect.stringMatching(/^error rate 100\.0%/) });
  expect(report.elapsedMs).toBeLessThan(20_000);
  expect(host.status().canary).toBeNull();
  expect(host.bindings.live.get('shop')!.version).toBe(1);
  expect(players.every((player) => host.call('shop.which', null, { player, origin: 'client' }) === 'v1')).toBe(true);
  expect(host.history(1)[0]).toMatchObject({ kind: 'auto-rollback', ok: true, modules: [expect.objectContaining({ module: 'shop', oldVersion: 2, newVersion: 1 })] });
}, 30_000);

it('rebind patch --canary 10% --verify 1s: promoted at the end of the window; --canary needs --verify', async () => {
  t = await start();
  const cli = (...args: string[]) => runCli([...args, '--server', t!.server.admin!.url], { REBIND_ADMIN_TOKEN: TOKEN });
  expect((await cli('patch', 'shop', '--canary', '10%')).code).toBe(2);
  expect((await cli('patch', 'shop', '--canary', '150%', '--verify', '1s')).code).toBe(2);
  // The bounds are exclusive, and said so: 100% is not a canary.
  t.project.write('logic/shop.ts', version('v1b'));
  expect(await t.server.host.engine.patch({ modules: ['shop'], origin: 'cli', canary: 1, verify: { windowMs: 1000 } })).toMatchObject({ ok: false, error: { code: 'CANARY_REFUSED', message: "a canary's share must be over 0% and under 100% (both excluded), got 100%" } });
  t.project.write('logic/shop.ts', version('v2'));
  const running = cli('patch', 'shop', '--canary', '10%', '--verify', '1s', '--json');
  // Players call during the window: a canary nobody called would be withdrawn unverified (exit 3), not promoted.
  let finished = false;
  void running.then(() => (finished = true));
  while (!finished) {
    for (const player of players.slice(0, 200)) t.server.host.call('shop.which', null, { player, origin: 'client' });
    await new Promise((r) => setTimeout(r, 50));
  }
  const done = await running;
  expect(done.code).toBe(0);
  expect(JSON.parse(done.stdout)).toMatchObject({ ok: true, canary: 0.1, verification: { outcome: 'confirmed' } });
  expect(t.server.host.bindings.live.get('shop')!.version).toBe(2);
}, 30_000);

it('rebind rollback <module> during a canary ends it at once, recorded as a rollback of the canary; its verification ends superseded', async () => {
  t = await start();
  const host = t.server.host;
  t.project.write('logic/shop.ts', version('v2'));
  const patch = await host.engine.patch({ modules: ['shop'], origin: 'cli', canary: 0.5, verify: { windowMs: 600_000 } });
  expect(patch.ok).toBe(true);
  expect(players.some((player) => host.call('shop.which', null, { player, origin: 'client' }) === 'v2')).toBe(true);
  const run = await runCli(['rollback', 'shop', '--server', t.server.admin!.url], { REBIND_ADMIN_TOKEN: TOKEN });
  expect(run.code).toBe(0);
  expect(host.status().canary).toBeNull();
  expect(host.bindings.live.get('shop')!.version).toBe(1);
  expect(players.every((player) => host.call('shop.which', null, { player, origin: 'client' }) === 'v1')).toBe(true);
  const report = await host.engine.verification(patch.id)!;
  expect(report.outcome).toBe('superseded');
  const records = host.history(2);
  expect(records[0]).toMatchObject({ kind: 'rollback', origin: 'cli', ok: true, canary: 0.5, modules: [expect.objectContaining({ module: 'shop', oldVersion: 2, newVersion: 1 })] });
  await waitFor(() => host.history(1)[0]!.kind === 'superseded', 5000, 'the superseded record');
  // Patching the module again is allowed now.
  t.project.write('logic/shop.ts', version('v3'));
  expect((await host.engine.patch({ modules: ['shop'], origin: 'cli' })).ok).toBe(true);
}, 30_000);
