import { afterEach, describe, expect, it } from 'vitest';
import { RebindClient, RebindClientError } from '../../client/index.ts';
import { sleep, waitFor } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const LOBBY = `
import { client, type Ctx } from '../server/api';
export const whoami = client((ctx: Ctx) => ctx.player);
export function init(ctx: Ctx) { ctx.setRoomView('lobby', { sessionLog: true }); }
`;

function log(t: TestServer): string[] {
  return (t.server.host.registry.get('sessionLog') as unknown as { get(): string[] }).get();
}

describe('sessions', () => {
  it('resumes the same player with the token inside the grace period', async () => {
    t = await startServer({ 'logic/lobby.ts': LOBBY }, { graceMs: 2000 });
    const c = new RebindClient(t.url, { backoffMs: [50, 200] });
    await c.connect();
    const joined = await c.join({ name: 'ann' });
    expect(joined).toMatchObject({ player: 'p-ann', resumed: false, graceMs: 2000 });
    await waitFor(() => c.state<string[]>('lobby', 'sessionLog')?.includes('join p-ann') === true, 2000, 'the lobby snapshot');
    const resumed = new Promise((resolve) => c.on('resumed', resolve));
    c.drop();
    expect(await resumed).toMatchObject({ player: 'p-ann', resumed: true });
    expect(c.token).not.toBe(joined.token); // tokens rotate on every resume
    expect(await c.call('lobby.whoami')).toBe('p-ann');
    expect(log(t)).toEqual(['join p-ann', 'drop p-ann', 'resume p-ann']);
    // The resumed client got a fresh snapshot of its room.
    await waitFor(() => c.state<string[]>('lobby', 'sessionLog')?.at(-1) === 'resume p-ann', 2000, 'the snapshot after resume');
    c.close();
  });

  it('forgets the player after the grace period', async () => {
    t = await startServer({ 'logic/lobby.ts': LOBBY }, { graceMs: 150 });
    const c = new RebindClient(t.url, { reconnect: false });
    await c.connect();
    const { token } = await c.join({ name: 'bob' });
    c.drop();
    await waitFor(() => log(t!).includes('leave p-bob'), 3000, 'the leave hook');
    const again = new RebindClient(t.url, { reconnect: false });
    await again.connect();
    await expect(again.resume(token)).rejects.toMatchObject({ code: 'RESUME_FAILED' });
    await expect(again.call('lobby.whoami')).rejects.toBeInstanceOf(RebindClientError);
    expect(t.server.gateway.sessions.size).toBe(0);
    again.close();
  });

  it('gives a second connection of the same player the session and closes the first with 4001', async () => {
    t = await startServer({ 'logic/lobby.ts': LOBBY });
    const first = new RebindClient(t.url, { reconnect: false });
    await first.connect();
    await first.join({ name: 'cat' });
    const closed = new Promise<{ code: number }>((resolve) => first.on('close', resolve));
    const second = new RebindClient(t.url, { reconnect: false });
    await second.connect();
    expect(await second.join({ name: 'cat' })).toMatchObject({ player: 'p-cat', resumed: true });
    expect((await closed).code).toBe(4001);
    expect(await second.call('lobby.whoami')).toBe('p-cat');
    await sleep(20);
    expect(t.server.gateway.sessions.size).toBe(1);
    second.close();
  });
});
