import { createLogger } from '../log.ts';

// What became of cross-node pushes that could not cross at once: while Redis
// is down they are held (held-pushes.ts) and delivered late once it is back,
// or lost past the hold's bounds; a push for a node that is not listening
// while Redis is up is lost at once. What matters to an operator is how many
// and why, not one line per push: an outage's pushes are said in one line
// once its held pushes are settled (the outage itself has its own FLEET REDIS
// DOWN line); a loss while Redis is up gets its own line.

const log = createLogger('fleet');

export class LostPushes {
  /** Every push lost since the start: rebind_fleet_pushes_lost_total. */
  total = 0;
  /** Every push held during an outage and delivered after it: rebind_fleet_pushes_delivered_late_total. */
  late = 0;
  /** Pushes held now: rebind_fleet_pushes_held (set by the deliveries). */
  held: () => number = () => 0;
  private lostInOutage = 0;
  private lateInOutage = 0;

  /** `inOutage`: held during a Redis outage (said in the outage's line); otherwise worth a line of its own. */
  lost(count: number, why: string, inOutage: boolean): void {
    if (count === 0) return;
    this.total += count;
    if (inOutage) {
      this.lostInOutage += count;
      return;
    }
    log.warn(`fleet: ${count} cross-node push(es) lost: ${why}`);
  }

  deliveredLate(count: number): void {
    this.late += count;
    this.lateInOutage += count;
  }

  /** Redis is back and nothing is held any more: the outage's counts, once. */
  outageOver(ageMs: number): void {
    if (this.lostInOutage === 0 && this.lateInOutage === 0) return;
    const lost = this.lostInOutage > 0 ? `, ${this.lostInOutage} lost (held longer than ${ageMs / 1000} s, or over the hold's bounds)` : ', none lost';
    log.warn(`fleet: ${this.lateInOutage} cross-node push(es) held while Redis was down were delivered late${lost}`);
    this.lostInOutage = 0;
    this.lateInOutage = 0;
  }
}
