import { createLogger } from '../log.ts';

// Cross-node pushes that never left this node (Redis down, or no node
// listening on the target's channel). Pub/sub keeps nothing, so they are
// lost; what matters to an operator is how many and why, not one line per
// push: while Redis is down they are counted silently and said in one line
// when it is back (the outage itself has its own FLEET REDIS DOWN line).

const log = createLogger('fleet');

export class LostPushes {
  /** Every push lost since the start: rebind_fleet_pushes_lost_total. */
  total = 0;
  private inOutage = 0;

  /** `redisUp`: whether the fleet's Redis connection is ready now; a loss while it is up is worth a line of its own. */
  lost(count: number, why: string, redisUp: boolean): void {
    this.total += count;
    if (!redisUp) {
      this.inOutage += count;
      return;
    }
    log.warn(`fleet: ${count} cross-node push(es) lost: ${why}`);
  }

  /** Redis is back: the outage's count, once. */
  outageOver(): void {
    if (this.inOutage === 0) return;
    log.warn(`fleet: ${this.inOutage} cross-node push(es) lost while Redis was down (pub/sub keeps nothing)`);
    this.inOutage = 0;
  }
}
