import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminRequest } from '../helpers/admin.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { TempProject, waitFor } from '../helpers/project.ts';

// A real server process whose output is a pipe logs JSON lines (pino): a
// handler's crash carries the handler, module version, player and the
// logic/ location; an operator's action carries who, from where and how it ended.

const TOKEN = 'rebind_structured_logs_token';
let project: TempProject;
let server: ServerProcess;

interface LogLine {
  level: number;
  scope: string;
  msg: string;
  [field: string]: unknown;
}
const lines = (): LogLine[] =>
  server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

beforeAll(async () => {
  project = new TempProject({
    'logic/shop.ts': `export function buy(ctx: unknown, p: { item: string }) {
  if (p.item === 'cursed') throw new Error('the cursed item bites');
  return 'ok';
}
`,
  });
  server = await startServerProcess(['--root', project.root, '--data', project.path('data')], { REBIND_ADMIN_TOKEN: TOKEN });
}, 30_000);

afterAll(async () => {
  await server?.kill();
  project?.cleanup();
});

it('every line is JSON with a level, a time and a scope', () => {
  const all = lines();
  expect(all.length).toBeGreaterThan(0);
  expect(server.output().split('\n').filter(Boolean).every((l) => l.startsWith('{'))).toBe(true);
  expect(all.find((l) => /game server listening/.test(l.msg))).toMatchObject({ level: 30, scope: 'rebind', time: expect.any(String) });
});

it("a handler's crash names the handler, its version, the player and the line in logic/", async () => {
  await expect(adminRequest(server.adminUrl, TOKEN, 'call', { handler: 'shop.buy', payload: { item: 'cursed' }, player: 'ann', origin: 'cli' })).rejects.toMatchObject({ code: 'HANDLER_ERROR' });
  await waitFor(() => lines().some((l) => l.handler === 'shop.buy'), 5000, 'the error line');
  expect(lines().find((l) => l.handler === 'shop.buy')).toMatchObject({ level: 50, scope: 'calls', module: 'shop', version: 1, player: 'ann', location: 'logic/shop.ts:2:34', code: 'HANDLER_ERROR' });
  // The same failure again and again is not a line per call: one per kind per 5 s, saying how many were left out.
  for (let i = 0; i < 20; i++) await adminRequest(server.adminUrl, TOKEN, 'call', { handler: 'shop.buy', payload: { item: 'cursed' }, player: 'ann', origin: 'cli' }).catch(() => undefined);
  expect(lines().filter((l) => l.handler === 'shop.buy').length).toBeLessThan(10);
});

it('an operator action is logged with who, from where and the result', async () => {
  await adminRequest(server.adminUrl, TOKEN, 'patch', { modules: ['shop'], origin: 'dashboard' });
  await waitFor(() => lines().some((l) => l.scope === 'audit' && l.action === 'patch'), 5000, 'the audit line');
  expect(lines().find((l) => l.scope === 'audit' && l.action === 'patch')).toMatchObject({ level: 30, origin: 'dashboard', address: '127.0.0.1', ok: true });
  // The failed call above was an operator action too, and says it failed.
  expect(lines().find((l) => l.scope === 'audit' && l.action === 'call')).toMatchObject({ level: 40, origin: 'cli', ok: false });
});
