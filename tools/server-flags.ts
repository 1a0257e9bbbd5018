/**
 * Node's flags for a rebind server: a 64 MB young generation (docs/operating.md,
 * "Memory"). `npm start` and the `rebind-server` bin give them (test/package/server-flags.test.ts
 * keeps them agreeing); the benchmarks and the local fleet's nodes start servers with them.
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=64'];
