import type { Host } from '../host.ts';
import { createLogger } from '../log.ts';
import type { Gateway } from '../net/gateway.ts';
import { RoomDirectory } from './directory.ts';
import { FleetNode, type FleetNodeOptions } from './node.ts';
import { Presence } from './presence.ts';
import { FleetRouter } from './router.ts';

// A game server joining a fleet: the node (registration, messages), the room
// directory, presence, and the router that logic's ctx and the gateway go
// through. What happens when a node is lost, and at this node's start and stop.

const log = createLogger('fleet');

export interface FleetMember {
  node: FleetNode;
  directory: RoomDirectory;
  router: FleetRouter;
  /** Frees this node's rooms, deregisters, closes the connections. */
  leave(): Promise<void>;
}

export function joinFleet(options: FleetNodeOptions, host: Host, gateway: Gateway): FleetMember {
  const node = new FleetNode(options);
  const directory = new RoomDirectory(node);
  const router = new FleetRouter(node, gateway, host, directory, new Presence(node));
  host.outbox = router;
  gateway.fleet = router;

  let tookBack = false;
  node.events.on('registered', () => {
    // An emptied Redis (restarted without its data) knows no player: say again who is here.
    for (const session of gateway.sessions.all()) router.announce(session.player, session.tokenHash, session.link !== null);
    // At the first registration: the rooms this data folder held. After a Redis restart (an empty Redis), the reload claims again what is served here.
    (tookBack ? directory.refresh() : takeBack()).catch((err: Error) => log.warn(`fleet: rooms not claimed yet (${err.message}); the next reload tries again`));
  });
  async function takeBack(): Promise<void> {
    const { back, elsewhere } = await directory.takeBack();
    await directory.refresh();
    tookBack = true;
    if (back.length > 0) log.info(`fleet: took back ${back.length} room(s) this data folder held: ${back.join(', ')}`);
    for (const [room, holder] of Object.entries(elsewhere)) log.warn(`fleet: room "${room}" was held here before, node ${holder} holds it now`);
  }

  node.events.on('node-lost', (id, claimed) => {
    if (!claimed) return;
    directory.freeAllOf(id).then(
      (rooms) => {
        if (rooms.length > 0) log.warn(`fleet: ROOMS LOST with node ${id}: ${rooms.join(', ')} (freed: the next join places each again)`);
        return node.publish('all', 'fleet.rooms-lost', { node: id, rooms });
      },
      (err: Error) => log.warn(`fleet: the rooms of node ${id} could not be freed: ${err.message}`),
    );
  });
  node.on('fleet.rooms-lost', () => undefined);

  return {
    node,
    directory,
    router,
    async leave() {
      directory.close();
      // A copy refused its node id frees nothing: the rooms are the live node's.
      if (node.holdsId) await directory.freeAllOf(node.id).catch((err: Error) => log.warn(`fleet: rooms of this node not freed (${err.message}); the fleet frees them when it notices the node is gone`));
      await node.leave();
    },
  };
}
