import { expect, it } from 'vitest';
import { openHost, valueOf } from '../engine/hosts.ts';
import { COUNTER_STATE } from '../helpers/project.ts';

// node:diagnostics_channel as a module version sees it (logic-channels.ts): tracing channels and
// bound stores are the version's own, as plain subscriptions are, and a channel is one object per name.

const log = (host: Parameters<typeof valueOf>[0]) => [...valueOf<{ log: string[] }>(host, 'counter').log];
const refuse = "export function init() { throw new Error('init refuses'); }";

it("tracing channel subscriptions belong to their version: a refused one's write nothing, a replaced one's are removed, unsubscribe works", async () => {
  const { host, project } = await openHost({
    'state/counter.ts': COUNTER_STATE,
    'logic/pub.ts': `import dc from 'node:diagnostics_channel';\nexport function trace() { return dc.tracingChannel('rebind-trace').traceSync(() => 'traced'); }\n`,
  });
  const module = (tag: string, refused: boolean) => `import dc from 'node:diagnostics_channel';
import { counter } from '../state/counter';
const write = (how: string) => () => counter.update((d) => { d.log.push('${tag} ' + how); });
const tc = dc.tracingChannel('rebind-trace');
const handlers = { start: write('start'), end: write('end') };
const byChannel = write('error channel');
tc.subscribe(handlers);
tc.error.subscribe(byChannel);
export function stop() { return [tc.unsubscribe(handlers), tc.error.unsubscribe(byChannel), tc.hasSubscribers]; }
export function v() { return '${tag}'; }
${refused ? refuse : ''}
`;
  project.write('logic/m.ts', module('refused', true));
  expect((await host.patch(['m'])).ok).toBe(false);
  expect(host.call('pub.trace')).toBe('traced');
  expect(log(host)).toEqual([]);
  for (const tag of ['v2', 'v3', 'v4']) {
    project.write('logic/m.ts', module(tag, false));
    expect((await host.patch(['m'])).ok).toBe(true);
  }
  expect(host.call('pub.trace')).toBe('traced');
  expect(log(host)).toEqual(['v4 start', 'v4 end']);
  expect(host.call('m.stop')).toEqual([true, true, false]);
  host.call('pub.trace');
  expect(log(host)).toEqual(['v4 start', 'v4 end']);
});

it("a store bound with bindStore belongs to its version: a refused one's transform does nothing, a replaced one's is unbound, unbindStore works, a throwing transform is reported", async () => {
  const { host, project } = await openHost({
    'state/counter.ts': COUNTER_STATE,
    'logic/pub.ts': `import dc from 'node:diagnostics_channel';\nexport function run(ctx: unknown, name: string) { return dc.channel(name).runStores('message', () => 'ran'); }\n`,
  });
  const module = (tag: string, refused: boolean) => `import dc from 'node:diagnostics_channel';
import { AsyncLocalStorage } from 'node:async_hooks';
import { counter } from '../state/counter';
const store = new AsyncLocalStorage();
const seen = new AsyncLocalStorage();
dc.channel('rebind-store').bindStore(store, (message) => { counter.update((d) => { d.log.push('${tag} ' + String(message)); }); return message; });
dc.channel('rebind-store-throws').bindStore(seen, () => { throw new Error('transform bug'); });
export function unbind() { return [dc.channel('rebind-store').unbindStore(store), dc.channel('rebind-store').unbindStore(new AsyncLocalStorage())]; }
export function v() { return '${tag}'; }
${refused ? refuse : ''}
`;
  project.write('logic/m.ts', module('refused', true));
  expect((await host.patch(['m'])).ok).toBe(false);
  expect(host.call('pub.run', 'rebind-store')).toBe('ran');
  expect(log(host)).toEqual([]);
  for (const tag of ['v2', 'v3', 'v4']) {
    project.write('logic/m.ts', module(tag, false));
    expect((await host.patch(['m'])).ok).toBe(true);
  }
  expect(host.call('pub.run', 'rebind-store')).toBe('ran');
  expect(log(host)).toEqual(['v4 message']);
  // The throw is the module's, reported; the publisher's call goes on, and nothing is thrown later.
  expect(host.call('pub.run', 'rebind-store-throws')).toBe('ran');
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(host.call('m.unbind')).toEqual([true, false]);
  host.call('pub.run', 'rebind-store');
  expect(log(host)).toEqual(['v4 message']);
});

it("a refused attempt that binds a store a live version bound leaves the live version's binding running (a store from a package both import)", async () => {
  const module = (tag: string, refused: boolean) => `import dc from 'node:diagnostics_channel';
import { requestStore } from 'shared-als';
dc.channel('rebind-shared-store').bindStore(requestStore, (message: any) => ({ v: '${tag}', id: message.id }));
export function read() { return dc.channel('rebind-shared-store').runStores({ id: 1 }, () => requestStore.getStore()); }
export function unbind() { return dc.channel('rebind-shared-store').unbindStore(requestStore); }
${refused ? refuse : ''}
`;
  const { host, project } = await openHost({
    'node_modules/shared-als/package.json': JSON.stringify({ name: 'shared-als', version: '1.0.0', main: 'index.js' }),
    'node_modules/shared-als/index.js': "exports.requestStore = new (require('node:async_hooks').AsyncLocalStorage)();\n",
    'logic/m.ts': module('v1', false),
    'logic/other.ts': module('other', false).replace('export function read', 'export function readOther'),
  });
  // Two live modules bound the same store: the one bound last runs.
  expect(host.call('m.read')).toEqual({ v: 'other', id: 1 });
  project.write('logic/other.ts', module('other-refused', true).replace('export function read', 'export function readOther'));
  expect((await host.patch(['other'])).ok).toBe(false);
  expect(host.call('m.read')).toEqual({ v: 'other', id: 1 });
  project.write('logic/m.ts', module('v2-refused', true));
  expect((await host.patch(['m'])).ok).toBe(false);
  expect(host.call('m.read')).toEqual({ v: 'other', id: 1 });
  // other unbinds its own: m's v1, bound before it and still live, runs again; then m's own goes too.
  expect(host.call('other.unbind')).toBe(true);
  expect(host.call('m.read')).toEqual({ v: 'v1', id: 1 });
  expect(host.call('m.unbind')).toBe(true);
  expect(host.call('m.read')).toBeUndefined();
});

it('a channel is one object per name within a version, as in Node', async () => {
  const { host } = await openHost({
    'logic/m.ts': `import dc from 'node:diagnostics_channel';
export function same() {
  const a = dc.channel('rebind-same');
  const b = dc.channel('rebind-same');
  const tc = dc.tracingChannel('rebind-same-trace');
  return [a === b, a.publish === b.publish, a !== dc.channel('rebind-other'), tc.start === dc.channel('tracing:rebind-same-trace:start'), a instanceof dc.Channel];
}
`,
  });
  expect(host.call('m.same')).toEqual([true, true, true, true, true]);
});
