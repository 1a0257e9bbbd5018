import { RebindClient } from '../../client/index.ts';
import type { TestFleet } from '../helpers/fleet.ts';

// What the push tests do on a fleet: join a player on a given node (a client
// that does not reconnect, so that a test sees exactly what it is sent), and
// read one sample of a node's /metrics.

export async function joinOn(fleet: TestFleet, node: number, name: string, clients: RebindClient[]): Promise<RebindClient> {
  const client = new RebindClient(fleet.nodes[node]!.gameUrl, { reconnect: false });
  clients.push(client);
  await client.connect();
  await client.join({ name });
  return client;
}

export async function metricOf(fleet: TestFleet, node: number, token: string, sample: string): Promise<number> {
  const res = await fetch(`${fleet.nodes[node]!.adminUrl.replace(/^ws/, 'http')}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const line = (await res.text()).split('\n').find((l) => l.startsWith(sample + ' '));
  if (!line) throw new Error(`no ${sample} in node ${node}'s /metrics`);
  return Number(line.slice(sample.length + 1));
}
