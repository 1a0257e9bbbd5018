import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { GameServer } from '../../server/server.ts';
import { demoProject } from '../helpers/demo.ts';
import type { TempProject } from '../helpers/project.ts';

// Every name a client sends is looked up among own keys only: the names
// every JavaScript object inherits are unknown like any other.

const INHERITED = ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf'];

let project: TempProject;
let server: GameServer;
let c: RebindClient;
beforeAll(async () => {
  project = demoProject();
  server = await GameServer.start({ root: project.root, port: 0, host: '127.0.0.1' });
  c = new RebindClient(server.url, { reconnect: false });
  await c.connect();
  await c.join({ name: 'nosy' });
});
afterAll(async () => {
  c.close();
  await server.stop();
  project.cleanup();
});

it('answers the demo chat /constructor, /toString and /hasOwnProperty like any unknown command', async () => {
  for (const name of INHERITED) {
    await expect(c.call('chat.say', { text: `/${name}` })).rejects.toMatchObject({ code: 'UNKNOWN_COMMAND', message: `no command /${name}; try /help` });
  }
  expect(await c.call('chat.say', { text: '/me waves' })).toEqual({ ok: true });
});

it('knows no handler by an inherited name, with or without a module', async () => {
  for (const name of INHERITED) {
    for (const handler of [name, `chat.${name}`, `${name}.${name}`]) {
      await expect(c.call(handler)).rejects.toMatchObject({ code: 'UNKNOWN_HANDLER' });
    }
  }
});
