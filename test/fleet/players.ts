import type { TestFleet } from '../helpers/fleet.ts';

// What the push tests read of a fleet: one sample of a node's /metrics.
// (Players join through fleetForTests' join: a client that does not
// reconnect, so that a test sees exactly what it is sent.)

export async function metricOf(fleet: TestFleet, node: number, token: string, sample: string): Promise<number> {
  const res = await fetch(`${fleet.nodes[node]!.adminUrl.replace(/^ws/, 'http')}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const line = (await res.text()).split('\n').find((l) => l.startsWith(sample + ' '));
  if (!line) throw new Error(`no ${sample} in node ${node}'s /metrics`);
  return Number(line.slice(sample.length + 1));
}
