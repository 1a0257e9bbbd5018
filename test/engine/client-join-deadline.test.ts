import { afterAll, beforeAll, expect, it } from 'vitest';
import { RebindClient } from '../../client/index.ts';
import { sleep, waitFor } from '../helpers/project.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// A client that connects and never joins is closed by the server (4002); it
// must not reconnect only to be closed again, for ever.

let t: TestServer;
beforeAll(async () => {
  t = await startServer({}, { limits: { authTimeoutMs: 200 } });
});
afterAll(async () => t.stop());

it('does not reconnect after the server closed a connection that never joined', async () => {
  const c = new RebindClient(t.url, { backoffMs: [20, 50] });
  const closes: number[] = [];
  let opens = 0;
  c.on('close', (ev: { code: number }) => closes.push(ev.code));
  c.on('open', () => opens++);
  try {
    await c.connect();
    await waitFor(() => closes.length > 0, 5000, 'the join deadline close');
    expect(closes[0]).toBe(4002);
    await sleep(600);
    expect(closes).toEqual([4002]);
    expect(opens).toBeLessThanOrEqual(1);
  } finally {
    c.close();
  }
});
