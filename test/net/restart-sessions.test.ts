import { afterEach, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { adminRequest } from '../helpers/admin.ts';
import { demoProject } from '../helpers/demo.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { sleep, waitFor, type TempProject } from '../helpers/project.ts';

// Sessions are data: after a crash or a stop, the players whose connection
// does not come back are dropped at start and leave after the grace, as if
// their connection had been cut; a player who comes back with its resume
// token within the grace is the same player, rooms and all.

const TOKEN = 'restart-suite-token-0123456789';
type Players = Record<string, { online: boolean }>;

let project: TempProject | undefined;
let server: ServerProcess | undefined;
const clients: RebindClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.kill();
  server = undefined;
  project?.cleanup();
  project = undefined;
});

/** The grace counts from the cut, across restarts: long enough here for a restart on a loaded machine. */
const GRACE_S = 12;

function start(grace = GRACE_S): Promise<ServerProcess> {
  return startServerProcess(['--root', project!.root, '--data', project!.path('data'), '--grace', String(grace)], { REBIND_ADMIN_TOKEN: TOKEN });
}

function players(): Promise<Players> {
  return adminRequest<Players>(server!.adminUrl, TOKEN, 'state', { store: 'players' });
}

it.each(['a crash (SIGKILL)', 'a clean stop (SIGTERM)'])('after %s, logic hears drop at start and leave after the grace for everyone who does not come back', async (how) => {
  project = demoProject();
  server = await start();
  const tokens = new Map<string, string>();
  for (let i = 0; i < 6; i++) {
    const c = new RebindClient(server.gameUrl, { reconnect: false });
    await c.connect();
    tokens.set(`p-p${i}`, (await c.join({ name: `p${i}` })).token);
    clients.push(c);
  }
  expect(Object.values(await players()).every((p) => p.online)).toBe(true);
  await sleep(300); // the journal's interval
  if (how.includes('SIGKILL')) await server.kill();
  else expect(await server.stop()).toBe(0);
  for (const c of clients.splice(0)) c.close();

  server = await start();
  // At start: nobody is connected, so nobody is online.
  const atStart = await players();
  expect(Object.keys(atStart).sort()).toEqual([...tokens.keys()].sort());
  expect(Object.values(atStart).filter((p) => p.online)).toEqual([]);

  // One comes back within the grace with the token it held.
  const back = new RebindClient(server.gameUrl, { reconnect: false });
  clients.push(back);
  await back.connect();
  expect(await back.resume(tokens.get('p-p0'))).toMatchObject({ player: 'p-p0', resumed: true });
  await waitFor(() => back.state<Players>('arena', 'players')?.['p-p0']?.online === true, 3000, 'the returning player to see the arena again');

  // After the grace the others have left the world; the one who came back stays.
  await waitFor(async () => Object.keys(await players()).length === 1, (GRACE_S + 10) * 1000, 'the others to leave');
  expect(await players()).toMatchObject({ 'p-p0': { online: true } });
  const status = await adminRequest<{ players: { sessions: number; connected: number } }>(server.adminUrl, TOKEN, 'status');
  expect(status.players).toMatchObject({ sessions: 1, connected: 1 });
}, 60_000);

it('counts the grace from the cut across restarts: crashing again and again does not keep a player in the world', async () => {
  project = demoProject();
  const grace = 15;
  server = await start(grace);
  const c = new RebindClient(server.gameUrl, { reconnect: false });
  await c.connect();
  await c.join({ name: 'ghost' });
  await sleep(300); // the journal's interval
  await server.kill();
  c.close();

  // The first restart after the crash dates the cut (it cannot know the exact moment).
  server = await start(grace);
  const cutAt = Date.now();
  expect(await players()).toMatchObject({ 'p-ghost': { online: false } });
  // Crash after crash, each well within the grace: each restart would give a full grace again.
  while (Date.now() - cutAt < (grace + 1) * 1000) {
    await sleep(500); // the journal's interval, with room to spare
    await server.kill();
    server = await start(grace);
  }
  // More than the grace has passed since the cut: gone at this start, not a whole grace later.
  await waitFor(async () => !('p-ghost' in (await players())), 5000, 'the player to leave at once');
}, 120_000);
