import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, readUntil, readUntilClose, target, upgradeRequest, type Target } from '../helpers/attack.ts';
import { adminRequest } from '../helpers/admin.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { COUNTER_STATE, TempProject } from '../helpers/project.ts';

// A request whose URL or headers cannot be parsed (`GET //[`, `Host: a b`,
// `Origin: http://a b`) gets a 400 and a closed socket, on both ports; it
// never throws inside a listener, which would end the process and disconnect
// every player. A real server process: what matters is that it stays alive.

const TOKEN = 'unparseable-suite-token-0123456789';
let project: TempProject;
let server: ServerProcess;
beforeAll(async () => {
  project = new TempProject({ 'state/counter.ts': COUNTER_STATE });
  // --demo-page: the page handler is the one that parses the URL (a game without pages answers 404 without parsing it).
  server = await startServerProcess(['--root', project.root, '--data', project.path('data'), '--demo-page'], { REBIND_ADMIN_TOKEN: TOKEN });
}, 30_000);
afterAll(async () => {
  await server?.kill();
  project?.cleanup();
});

async function ask(t: Target, request: string): Promise<{ data: string; closed: boolean }> {
  const socket = await connect(t);
  // The peer stays open on its side: only the server's close ends the socket.
  socket.write(request);
  return readUntilClose(socket, 5000);
}

function plainGet(t: Target, path: string, headers: Record<string, string> = {}): string {
  return `GET ${path} HTTP/1.1\r\n${Object.entries({ host: 'x', ...headers })
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
}

it.each(['game', 'admin'])('the %s port answers 400 to GET //[ and keeps running', async (port) => {
  const t = target(port === 'game' ? server.gameUrl : server.adminUrl);
  const { data } = await ask(t, plainGet(t, '//['));
  expect(data).toMatch(/^HTTP\/1\.1 400/);
  expect(server.proc.exitCode).toBe(null);
  // Still serving: a plain page request and an admin request.
  expect((await ask(t, plainGet(t, '/nowhere', { connection: 'close' }))).data).toMatch(/^HTTP\/1\.1 404/);
  expect(await adminRequest(server.adminUrl, TOKEN, 'status')).toBeTruthy();
});

it.each([
  ['a URL that is not one', '//[', {}],
  ['a Host with a space', '/', { host: 'a b' }],
  ['an Origin and Host with a space', '/', { host: 'a b', origin: 'http://a b' }],
])('an admin upgrade with %s is answered and closed, with no unhandled rejection', async (_what, path, extra) => {
  const t = target(server.adminUrl);
  const before = server.output().length;
  const { data, closed } = await ask(t, upgradeRequest(t, path, extra as Record<string, string>));
  expect(data).toMatch(/^HTTP\/1\.1 4\d\d/);
  expect(closed).toBe(true);
  expect(server.output().slice(before)).not.toMatch(/unhandled rejection|Invalid URL/);
  expect(server.proc.exitCode).toBe(null);
});

it('a game-port upgrade with a URL that is not one does not end the process', async () => {
  const t = target(server.gameUrl);
  const socket = await connect(t);
  socket.write(upgradeRequest(t, '//['));
  // Whatever the answer (ws does not look at the path), one comes and the process stays.
  expect(await readUntil(socket, '\r\n')).toMatch(/^HTTP\/1\.1 \d{3}/);
  socket.destroy();
  expect(server.proc.exitCode).toBe(null);
  expect((await ask(t, plainGet(t, '//['))).data).toMatch(/^HTTP\/1\.1 400/);
});
