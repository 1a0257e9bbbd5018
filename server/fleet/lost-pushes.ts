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
  /** Pushes of this outage lost so far, by why: its one line says each reason with its count. */
  private readonly lostInOutage = new Map<string, number>();
  private lateInOutage = 0;

  /** `inOutage`: held during a Redis outage (said in the outage's line); otherwise worth a line of its own. */
  lost(count: number, why: string, inOutage: boolean): void {
    if (count === 0) return;
    this.total += count;
    if (inOutage) {
      this.lostInOutage.set(why, (this.lostInOutage.get(why) ?? 0) + count);
      return;
    }
    log.warn(`fleet: ${count} cross-node push(es) lost: ${why}`);
  }

  deliveredLate(count: number): void {
    this.late += count;
    this.lateInOutage += count;
  }

  /** Redis is back and nothing is held any more: the outage's counts, once. */
  outageOver(): void {
    const lostCount = [...this.lostInOutage.values()].reduce((a, b) => a + b, 0);
    if (lostCount === 0 && this.lateInOutage === 0) return;
    const reasons = [...this.lostInOutage].map(([why, n]) => (this.lostInOutage.size > 1 ? `${n} ${why}` : why)).join('; ');
    const lost = lostCount > 0 ? `, ${lostCount} lost (${reasons})` : ', none lost';
    log.warn(`fleet: ${this.lateInOutage} cross-node push(es) held while Redis was down were delivered late${lost}`);
    this.lostInOutage.clear();
    this.lateInOutage = 0;
  }
}
