// An error the CLI reports in one line with its exit code. A file of its own so
// that commands without a server (types, new) do not load the admin client and
// the ws package behind it (a third of a command's start-up budget).

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code = 'CLI_ERROR',
    /** The server's refusal (its code is shown beside the message), not the CLI's own. */
    readonly fromServer = false,
  ) {
    super(message);
  }
}
