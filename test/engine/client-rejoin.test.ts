import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient, RebindClientError } from '../../client/index.ts';
import { waitFor } from '../helpers/project.ts';
import { SESSION_STATE, startServer, type TestServer } from '../helpers/server.ts';

// A Node client whose connection drops, whose resume is refused and whose
// rejoin is refused too, must say so with an 'error' event: an unhandled
// rejection there would end the player's whole process.

const SESSION = `
import { fail, type Ctx } from '../server/api';
import { sessionLog } from '../state/session-log';
export function auth(ctx: Ctx, p: { name: string }) {
  if (sessionLog.get().includes('join p-' + p.name)) fail('ONCE_ONLY', 'this name may join once');
  return 'p-' + p.name;
}
export function join(ctx: Ctx) { sessionLog.update((d) => { d.push('join ' + ctx.player); }); }
`;

let t: TestServer;
beforeAll(async () => {
  // graceMs 0: a dropped player is gone at once, so the resume is refused.
  t = await startServer({ 'state/session-log.ts': SESSION_STATE, 'logic/session.ts': SESSION }, { graceMs: 0 });
});
afterAll(async () => t.stop());

it('emits an error event, not an unhandled rejection, when a rejoin is refused', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const c = new RebindClient(t.url, { backoffMs: [20, 50] });
  const errors: RebindClientError[] = [];
  c.on('error', (err: RebindClientError) => errors.push(err));
  try {
    await c.connect();
    await c.join({ name: 'solo' });
    c.drop();
    await waitFor(() => errors.length > 0, 5000, 'the error event');
    expect(errors[0]).toBeInstanceOf(RebindClientError);
    expect(errors[0]!.code).toBe('ONCE_ONLY');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    c.close();
  }
});
