import { client, fail, type ClientCtx } from 'rebind';
import { players } from '../state/arena.ts';
import { post } from './lib/chatlog.ts';

// Chat, with slash commands. Add a command to COMMANDS and save: it is live
// for everyone at once.

type Command = (ctx: ClientCtx, name: string, args: string) => string;

const COMMANDS: Record<string, Command> = {
  help: () => `commands: ${Object.keys(COMMANDS).map((c) => '/' + c).join(' ')}`,
  me: (_ctx, name, args) => `* ${name} ${args}`,
  score: (ctx, name) => `${name} has ${players.get(ctx.player)?.score ?? 0} points`,
};

export const say = client((ctx, payload: { text?: unknown }) => {
  const text = typeof payload?.text === 'string' ? payload.text.trim() : '';
  if (text.length === 0 || text.length > 200) fail('BAD_TEXT', 'a chat line is 1 to 200 characters');
  const name = players.get(ctx.player)?.name ?? ctx.player;
  if (!text.startsWith('/')) {
    post(name, text);
    return { ok: true };
  }
  const [command = '', ...rest] = text.slice(1).split(' ');
  // Own keys only: "/constructor" or "/toString" are unknown commands, not Object's methods.
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) fail('UNKNOWN_COMMAND', `no command /${command}; try /help`);
  post('server', run(ctx, name, rest.join(' ')));
  return { ok: true };
});
