import { HAVE_REDIS, REDIS_SERVER, type LocalRedis } from '../../tools/local-fleet/redis-server.ts';

// The fleet tests' redis-server is the one tools/local-fleet starts (the
// benchmarks use the same); what is the tests' own is whether to skip.

export { HAVE_REDIS, REDIS_SERVER, freePort, ping, startRedis } from '../../tools/local-fleet/redis-server.ts';
export type TestRedis = LocalRedis;

/** For `describe.skipIf(!HAVE_REDIS)`; CI sets REBIND_REQUIRE_REDIS=1 so a missing redis-server fails instead of skipping. */
export function redisOrSkip(): boolean {
  if (!HAVE_REDIS && process.env.REBIND_REQUIRE_REDIS === '1') {
    throw new Error(`REBIND_REQUIRE_REDIS=1 but there is no redis-server at ${REDIS_SERVER}: install Debian's redis-server package (apt-get install redis-server) or set REBIND_REDIS_SERVER`);
  }
  if (!HAVE_REDIS) console.warn(`fleet tests skipped: no redis-server at ${REDIS_SERVER}. To run them: apt-get install redis-server, then run the tests again`);
  return HAVE_REDIS;
}
