import { symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { client } from 'rebind';
import { RebindClient, RebindClientError } from '../../client/index.ts';
import { GameServer } from '../../server/server.ts';
import { TempProject } from '../helpers/project.ts';
import { SESSION_MODULE, SESSION_STATE } from '../helpers/server.ts';

// client(schema, handler): a payload that fails the schema is refused with
// BAD_PAYLOAD and the schema's own message, and the handler never runs.
// valibot stands in for any Standard Schema library (zod, arktype...).

const STATE = `
import { defineStore } from 'rebind';
export const moves = defineStore('moves', { count: 0, last: null as unknown }, { version: 1 });
`;
const LOGIC = `
import * as v from 'valibot';
import { client } from 'rebind';
import { moves } from '../state/moves.ts';
const Step = v.picklist([-1, 0, 1], 'a step is -1, 0 or 1');
export const move = client(v.object({ dx: Step, dy: Step }), (ctx, p) => {
  moves.update((d) => { d.count += 1; d.last = { by: ctx.player, dx: p.dx, dy: p.dy }; });
  return moves.get().count;
});
`;

let project: TempProject;
let server: GameServer;
let ann: RebindClient;
beforeAll(async () => {
  project = new TempProject({ 'state/session-log.ts': SESSION_STATE, 'logic/session.ts': SESSION_MODULE, 'state/moves.ts': STATE, 'logic/arena.ts': LOGIC });
  // The game's own dependencies (valibot) come from its node_modules, as in any project.
  symlinkSync(fileURLToPath(new URL('../../node_modules', import.meta.url)), project.path('node_modules'));
  server = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1' });
  ann = new RebindClient(server.url, { reconnect: false });
  await ann.connect();
  await ann.join({ name: 'ann' });
});
afterAll(async () => {
  ann?.close();
  await server?.stop();
  project?.cleanup();
});

it('runs the handler on a payload the schema accepts, with the parsed payload', async () => {
  expect(await ann.call('arena.move', { dx: 1, dy: -1 })).toBe(1);
  expect((server.host.registry.get('moves') as unknown as { get(): unknown }).get()).toEqual({ count: 1, last: { by: 'p-ann', dx: 1, dy: -1 } });
});

it('refuses a payload that fails the schema with BAD_PAYLOAD and its message, and the handler never runs', async () => {
  const refused = await ann.call('arena.move', { dx: 5, dy: 0 }).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(RebindClientError);
  expect(refused).toMatchObject({ code: 'BAD_PAYLOAD', message: 'dx: a step is -1, 0 or 1' });
  const missing = await ann.call('arena.move', null).catch((err: unknown) => err);
  expect(missing).toMatchObject({ code: 'BAD_PAYLOAD' });
  expect((server.host.registry.get('moves') as unknown as { get(): { count: number } }).get().count).toBe(1);
});

it("types the handler's payload from the schema (checked by tsc, not run)", () => {
  const typed = client(v.object({ n: v.number() }), (ctx, p) => `${ctx.player} ${p.n.toFixed(1)}`);
  // @ts-expect-error the payload's input type comes from the schema too
  const wrong: Parameters<typeof typed>[1] = { n: 'one' };
  expect(typeof typed).toBe('function');
  expect(wrong).toBeDefined();
});

it('refuses a module whose schema validates asynchronously at patch time, naming the file and line', async () => {
  project.write('logic/slow.ts', `import * as v from 'valibot';
import { client } from 'rebind';
export const ok = client(() => 1);
export const look = client(v.objectAsync({ n: v.number() }), (ctx, p) => p.n);
`);
  const record = await server.host.patch(['slow']);
  expect(record.ok).toBe(false);
  expect(record.error).toMatchObject({ code: 'PATCH_EVAL_ERROR', message: expect.stringMatching(/^logic\/slow\.ts:4:\d+: .*the schema validates asynchronously/) });
  await expect(ann.call('slow.ok')).rejects.toMatchObject({ code: 'UNKNOWN_HANDLER' });
});

it('a schema that turns async for some payloads fails those calls as the game\'s error (HANDLER_ERROR), not the client\'s', async () => {
  project.write('logic/sometimes.ts', `import { client } from 'rebind';
// A Standard Schema, written by hand: synchronous unless the payload asks for a lookup.
const schema = {
  '~standard': {
    version: 1 as const,
    vendor: 'test',
    validate: (value: unknown) => ((value as { lookup?: boolean } | undefined)?.lookup ? Promise.resolve({ value }) : { value }),
  },
};
export const check = client(schema, () => 'ran');
`);
  const record = await server.host.patch(['sometimes']);
  expect(record.ok, JSON.stringify(record.error)).toBe(true);
  expect(await ann.call('sometimes.check', {})).toBe('ran');
  await expect(ann.call('sometimes.check', { lookup: true })).rejects.toMatchObject({ code: 'HANDLER_ERROR', message: expect.stringContaining('its schema validates asynchronously') });
});
