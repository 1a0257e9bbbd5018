import { afterAll, beforeAll } from 'vitest';
import { RebindClient, type ClientOptions } from '../../client/index.ts';
import { startLocalFleet, type LocalFleet } from '../../tools/local-fleet/fleet.ts';
import type { LocalRedis } from '../../tools/local-fleet/redis-server.ts';
import { TempProject, waitFor } from './project.ts';

// A fleet of real node processes (tools/local-fleet) on a throwaway project
// folder that the test writes its game into (and patches), removed with it.

export type { FleetNodeProcess } from '../../tools/local-fleet/fleet.ts';

export interface TestFleet extends LocalFleet {
  project: TempProject;
}

export interface FleetSetup {
  nodes: number;
  /** state/ and logic/ of the game the nodes run. */
  files: Record<string, string>;
  /** Extra flags for every node. */
  args?: string[];
  env?: Record<string, string>;
  /** An existing redis (default: a fresh one, stopped with the fleet). */
  redis?: LocalRedis;
}

export async function startFleet(setup: FleetSetup): Promise<TestFleet> {
  const project = new TempProject(setup.files);
  let fleet: LocalFleet;
  try {
    fleet = await startLocalFleet({ nodes: setup.nodes, root: project.root, ...(setup.args ? { args: setup.args } : {}), ...(setup.env ? { env: setup.env } : {}), ...(setup.redis ? { redis: setup.redis } : {}) });
  } catch (err) {
    project.cleanup();
    throw err;
  }
  return {
    ...fleet,
    project,
    async stop() {
      await fleet.stop();
      project.cleanup();
    },
  };
}

/** Waits until every node has logged every other node live: placement and cross-node pushes read the live nodes. */
export async function untilNodesSeeEachOther(fleet: TestFleet, ms = 20_000): Promise<void> {
  for (const node of fleet.nodes) await waitFor(() => fleet.nodes.every((o) => o === node || node.proc.output().includes(`node ${o.id} is live`)), ms, `node ${node.index} to see the others`);
}

export interface FleetUnderTest {
  /** The fleet, once the file's beforeAll has started it (every node seeing the others). */
  readonly fleet: TestFleet;
  /** A player joined on node `node` (closed after the file's tests). */
  join(name: string, node: number, options?: ClientOptions): Promise<RebindClient>;
}

/** A fleet for one test file: started (and every node seeing the others) before its tests, stopped after, with its players. */
export function fleetForTests(setup: FleetSetup): FleetUnderTest {
  let fleet: TestFleet | undefined;
  const clients: RebindClient[] = [];
  beforeAll(async () => {
    fleet = await startFleet(setup);
    await untilNodesSeeEachOther(fleet);
  }, 90_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await fleet?.stop();
  });
  return {
    get fleet() {
      return fleet!;
    },
    async join(name, node, options = { reconnect: false }) {
      const client = new RebindClient(fleet!.nodes[node]!.gameUrl, options);
      clients.push(client);
      await client.connect();
      await client.join({ name });
      return client;
    },
  };
}
