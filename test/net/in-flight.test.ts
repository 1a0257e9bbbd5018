import { afterEach, expect, it } from 'vitest';
import { joinedSocket, startServer, type TestServer } from '../helpers/server.ts';

// A connection has at most `maxInFlight` calls waiting for their answers.
// Past it a call is refused with RATE_LIMITED; a call with seq 0 asked for no
// reply and gets none, as over the rate (it was answered with a reply of seq
// 0, which no call of the client's could match: attack 17a).

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

it('past the in-flight limit a call is refused with RATE_LIMITED, and a call with seq 0 gets no reply at all', async () => {
  t = await startServer({ 'logic/w.ts': `import { client } from '../server/api';\nexport const hang = client(() => new Promise(() => undefined));\nexport const fine = client(() => 'fine');\n` }, { limits: { maxInFlight: 4 } });
  const s = await joinedSocket(t.url, 'waiter');
  for (let i = 0; i < 4; i++) s.sendBinary(['w.hang', 0, null]);
  // Over the limit: three that want no reply, then one that does.
  for (let i = 0; i < 3; i++) s.sendBinary(['w.fine', 0, null]);
  s.sendBinary(['w.fine', 7, null]);
  expect(await s.next()).toEqual([7, 1, { code: 'RATE_LIMITED', message: '4 calls already in flight; wait for replies' }]);
  // Nothing else came: the next frame is the answer to the next call (still over the limit).
  s.sendBinary(['$ping', 8, null]);
  expect(await s.next()).toMatchObject([8, 1, { code: 'RATE_LIMITED' }]);
  s.close();
}, 30_000);
