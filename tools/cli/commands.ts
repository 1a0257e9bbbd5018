// What each `rebind` command accepts: its positional arguments and its own
// options. Everything else is refused with exit code 2 before anything
// connects: `rebind state players p-ann score` must not print the whole row.

export interface CommandSpec {
  usage: string;
  about: string;
  /** How many positional arguments it takes, at least and at most. */
  min: number;
  max: number;
  /** Options beyond the common ones. */
  options: string[];
  /** Extra words for the usage error when there are too many positionals. */
  extraHint?: string;
  /** Works on files, with no server: takes none of the options that find one (--server, --token, --data). */
  local?: true;
}

export const COMMON_OPTIONS = ['server', 'token', 'data', 'json', 'help'];
/** What a command that needs no server takes of the common options. */
export const LOCAL_OPTIONS = ['json', 'help'];

export const COMMANDS: Record<string, CommandSpec> = {
  status: { usage: 'rebind status', about: 'modules with versions and hashes, handler calls and errors, last patch, players, tick, uptime', min: 0, max: 0, options: [] },
  patch: {
    usage: 'rebind patch [module...] [--verify DURATION] [--canary PERCENT]',
    about: "rebuild from the server's logic folder and swap (default: every module whose sources changed); --verify 30s (1s to 24h): watch the new code for that long and roll back on its own if it goes over budget (exit 1; exit 3 when too few calls came to judge it); --canary 10%: during the window the new code serves only that share of players, then it is promoted or rolled back",
    min: 0,
    max: Infinity,
    options: ['verify', 'canary'],
  },
  rollback: { usage: 'rebind rollback [module]', about: 're-activate the previous version (default: of every module the last patch changed)', min: 0, max: 1, options: [] },
  history: { usage: 'rebind history [-n N]', about: 'the last N patches and rollbacks (default 20)', min: 0, max: 0, options: ['n'] },
  state: {
    usage: 'rebind state <store> [path]',
    about: 'a read-only view of live data, e.g. rebind state players p-ann.score',
    min: 1,
    max: 2,
    options: [],
    extraHint: 'a path is one argument with dots: rebind state players p-ann.score',
  },
  call: {
    usage: 'rebind call <handler> [json] [--as PLAYER]',
    about: 'call any handler, internal ones too, and print its result (--as: with ctx.player set; client handlers need it)',
    min: 1,
    max: 2,
    options: ['as'],
    extraHint: "the payload is one argument of JSON: quote it, e.g. '{\"dx\":1,\"dy\":0}'",
  },
  watch: {
    usage: 'rebind watch [--root DIR] [--verify DURATION]',
    about: "patch the server on every save under <root>/logic (default: the working directory); --verify 30s: verify each save's patch as rebind patch --verify does (over budget it rolls back on its own, and the outcome is printed when it comes; the next save does not wait for it)",
    min: 0,
    max: 0,
    options: ['root', 'verify'],
  },
  drop: { usage: 'rebind drop <player>', about: "close a connected player's connection (the session stays: the player may resume)", min: 1, max: 1, options: [] },
  snapshot: { usage: 'rebind snapshot', about: 'write a snapshot of every store now', min: 0, max: 0, options: [] },
  types: { usage: 'rebind types [--root DIR]', about: "write rebind-env.d.ts: every handler's name and type, so tsc checks names, payloads and results", min: 0, max: 0, options: ['root'], local: true },
  new: { usage: 'rebind new <dir>', about: 'create a game project in <dir> that depends on this engine', min: 1, max: 1, options: [], local: true },
};

export const COMMON_HELP = `
options for every command (types and new take only --json and --help):
  --server URL   the admin address, ws:// or wss:// (http:// and https:// are taken as the
                 same address; REBIND_SERVER; default ws://127.0.0.1:8081)
  --token T      the admin token (REBIND_ADMIN_TOKEN; default: <data>/admin.token)
  --data DIR     where to look for admin.token (REBIND_DATA; default ./data)
  --json         print JSON for scripts
  -h, --help     help for the command`;

export function help(command?: string): string {
  if (command && Object.hasOwn(COMMANDS, command)) return `usage: ${COMMANDS[command]!.usage}\n\n${COMMANDS[command]!.about}\n${COMMON_HELP}\n`;
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  return `rebind: live-patch and inspect a running rebind server\n\n${Object.values(COMMANDS)
    .map((c) => `  ${c.usage.padEnd(width)}  ${c.about}`)
    .join('\n')}\n${COMMON_HELP}\n`;
}
