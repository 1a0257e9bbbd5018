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
