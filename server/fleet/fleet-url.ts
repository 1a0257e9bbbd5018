import { Redis } from 'ioredis';
import { safeUrl } from './redis.ts';

// The --fleet URL, checked before a node starts. ioredis reads the URL's path
// as the database number and never checks it: "/abc" became SELECT NaN,
// which Redis refused while the connection went on in database 0 (the real
// fleet's, under a node that believed it was elsewhere), and "/99" on a Redis
// with 16 databases was refused at every connect and read as an endless
// outage. The shape is checked here (exit 2, like any bad flag); whether Redis
// has that database only Redis can say, so it is asked once at the start.

/** What is wrong with `url` as a --fleet URL, in one line naming the part; undefined when it is fine. */
export function fleetUrlProblem(url: string): string | undefined {
  if (!/^rediss?:\/\/[^\s]+$/.test(url)) return `--fleet must be a Redis URL such as redis://127.0.0.1:6379, got "${url}"`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--fleet must be a Redis URL such as redis://127.0.0.1:6379, got "${url}"`;
  }
  const shown = safeUrl(url);
  if (!parsed.hostname) return `--fleet ${shown} names no host: write it as redis://host:port`;
  if (parsed.hash) return `--fleet ${shown}: the part "${parsed.hash}" has no meaning in a Redis URL; remove it`;
  if (!/^(\/(\d{1,9})?)?$/.test(parsed.pathname)) {
    // As written: decoded, "/%31" read "/1", which is a database number, and the line contradicted itself.
    const written = /^rediss?:\/\/[^/?#]*([^?#]*)/.exec(url)?.[1] ?? parsed.pathname;
    return `--fleet ${shown}: the path "${written}" must be a database number (redis://host:port/2), or nothing for database 0`;
  }
  const db = parsed.searchParams.getAll('db');
  if (db.length > 1 || (db.length === 1 && !/^\d{1,9}$/.test(db[0]!))) return `--fleet ${shown}: "db=${db.join('&db=')}" must be one database number`;
  const fromPath = parsed.pathname.slice(1);
  // ioredis takes the path and ignores db=: two different numbers would silently use the path's.
  if (fromPath && db.length === 1 && Number(fromPath) !== Number(db[0])) return `--fleet ${shown}: the path names database ${fromPath} and "db=${db[0]}" names another; give the database once`;
  return undefined;
}

/** The database the URL names (its path, else its db= parameter, as ioredis reads it), 0 if none. */
export function fleetDatabase(url: string): number {
  const parsed = new URL(url);
  const fromPath = parsed.pathname.slice(1);
  return Number(fromPath || parsed.searchParams.get('db') || 0);
}

/** Whether Redis could be asked, and the reason it refused the URL's database (a line for the operator), if it did. */
export interface DatabaseCheck {
  asked: boolean;
  refusal?: string;
}

/**
 * Asks Redis once whether it has the URL's database. Database 0 is always there. Not asked: Redis is not up, or
 * refused the credentials (the node's own connection says those in its words, and an outage must not stop a start).
 */
export async function checkFleetDatabase(url: string, timeoutMs = 3000): Promise<DatabaseCheck> {
  const db = fleetDatabase(url);
  if (db === 0) return { asked: true };
  const bare = new URL(url);
  bare.pathname = '';
  bare.searchParams.delete('db');
  const probe = new Redis(bare.toString(), { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: timeoutMs, commandTimeout: timeoutMs, connectionName: 'rebind-url-check' });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
  } catch {
    probe.disconnect();
    return { asked: false };
  }
  try {
    await probe.select(db);
    return { asked: true };
  } catch (err) {
    const why = (err as Error).message;
    // Any other answer is Redis's to say on the node's own connection; only no answer at all is worth asking again.
    if (!/^ERR\b.*(DB index|out of range|invalid DB)/i.test(why)) return { asked: !/timed out|connection/i.test(why) };
    return { asked: true, refusal: `Redis at ${safeUrl(bare.toString())} has no database ${db} (it answered "${why}"), the database --fleet ${safeUrl(url)} names: use a database it has (0 to 15 on a Redis with the default "databases 16"), or raise "databases" in its configuration` };
  } finally {
    probe.disconnect();
  }
}

/** For a Redis that was not up at the start: asks every second until it answers, then resolves with its refusal, if any. */
export async function fleetDatabaseRefusalOnceUp(url: string, stopped: () => boolean): Promise<string | undefined> {
  for (;;) {
    const check = await checkFleetDatabase(url);
    if (check.asked || stopped()) return check.refusal;
    await new Promise((resolve) => setTimeout(resolve, 1000).unref());
  }
}
