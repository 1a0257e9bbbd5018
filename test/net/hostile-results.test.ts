import { afterEach, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// A client handler may return anything, a Proxy whose traps throw included.
// The gateway asks whether a result is a promise before it waits for it:
// asked with `instanceof`, a returned Proxy's getPrototypeOf trap threw out of
// the server's own request path. The caller gets HANDLER_ERROR, and the server
// goes on answering.

const LOGIC = `import { client } from '../server/api';
const trap = () => { throw new Error('trap'); };
export const trapProxy = client(() => new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap }));
export const revokedProxy = client(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; });
export const asyncTrap = client(async () => new Proxy({}, { get: trap, getPrototypeOf: trap }));
export const fine = client(() => 'fine');
`;

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

it('a client handler returning a hostile Proxy answers HANDLER_ERROR, and the server goes on', async () => {
  t = await startServer({ 'logic/odd.ts': LOGIC });
  const c = new RebindClient(t.url, { reconnect: false });
  await c.connect();
  await c.join({ name: 'ann' });
  for (const handler of ['odd.trapProxy', 'odd.revokedProxy', 'odd.asyncTrap']) {
    const outcome = await c.call(handler, {}).then(
      (value) => ({ value }),
      (err: { code?: string; message?: string }) => ({ code: err.code, message: err.message }),
    );
    expect(outcome, handler).toMatchObject({ code: 'HANDLER_ERROR' });
  }
  expect(await c.call('odd.fine', {})).toBe('fine');
  c.close();
});
