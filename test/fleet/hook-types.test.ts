import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { runCli } from '../helpers/process.ts';

// The fleet's session hooks in `rebind types`: place (PlaceCtx, PlaceRequest)
// and arrived typecheck as the docs write them, are listed like the other
// session hooks, and, since both run for a player, ctx.schedule of either is
// a type error (a timer has no player).

const ENGINE = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'rebind-hook-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function put(rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), text);
}

it('place and arrived are typed session hooks: listed, checked, and not schedulable', async () => {
  put('package.json', '{ "name": "g", "type": "module", "private": true }\n');
  put('tsconfig.json', JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, allowImportingTsExtensions: true, skipLibCheck: true, lib: ['ES2023', 'DOM'], types: ['node'] },
    include: ['state', 'logic', 'rebind-env.d.ts'],
  }));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(ENGINE, path.join(dir, 'node_modules', 'rebind'));
  symlinkSync(path.join(ENGINE, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'));
  put('state/.keep', '');
  put('logic/session.ts', `import type { Ctx, PlaceCtx, PlaceRequest, SessionCtx } from 'rebind';
export function auth(_ctx: Ctx, p: { name: string }) { return 'p-' + p.name; }
export function place(ctx: PlaceCtx, r: PlaceRequest): string | undefined {
  ctx.log.info(ctx.player + ' places ' + r.room);
  return r.nodes.filter((n) => !n.here).sort((a, b) => a.players - b.players || a.rooms - b.rooms)[0]?.id;
}
export function arrived(ctx: SessionCtx, p: { room: string; from: string | null }) { ctx.log.info(ctx.player + ' in ' + p.room + ' from ' + p.from); }
`);
  put('logic/timers.ts', `import type { Ctx } from 'rebind';
export function init(ctx: Ctx) {
  ctx.schedule(10, 'session.arrived', { room: 'r', from: null });
  ctx.schedule(10, 'session.place', { room: 'r', player: 'p', nodes: [] });
}
`);
  const run = await runCli(['types', '--root', dir]);
  expect(run.code, run.stderr).toBe(0);
  const text = readFileSync(path.join(dir, 'rebind-env.d.ts'), 'utf8');
  expect(text).toContain(`"session.place": typeof import("./logic/session.ts")["place"];`);
  expect(text).toContain(`"session.arrived": typeof import("./logic/session.ts")["arrived"];`);
  const tsc = spawnSync(process.execPath, [path.join(ENGINE, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
  const errors = tsc.stdout.split('\n').filter((l) => /error TS/.test(l));
  // Only the two schedules fail: the hooks themselves typecheck as documented.
  expect(errors.map((e) => /logic\/\w+\.ts\(\d+,/.exec(e)?.[0]), tsc.stdout).toEqual(['logic/timers.ts(3,', 'logic/timers.ts(4,']);
}, 60_000);
