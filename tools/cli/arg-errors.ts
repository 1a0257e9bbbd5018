// node:util parseArgs's messages, said for a person using rebind: Node's
// are written for a program's author (an unbalanced quote in `as in '--
// "--foo"`, a hint to write `--n=-XYZ` whatever the value was). Each is one
// line naming the option as it was typed and what to type instead.

/** The option's name as Node quotes it first in its message (`'--token <value>'` gives `--token`). */
function quotedOption(message: string): string | undefined {
  return /'(-{1,2}[^' ,]+)/.exec(message)?.[1];
}

/** The argument typed after `option` in argv (for a value that begins with a dash). */
function valueAfter(argv: readonly string[], option: string): string | undefined {
  const at = argv.indexOf(option);
  return at >= 0 ? argv[at + 1] : undefined;
}

/** `--n` for `-n`: the long form, which takes `=value`. */
function longForm(option: string): string {
  return option.startsWith('--') ? option : `--${option.slice(1)}`;
}

export function readableArgError(err: unknown, argv: readonly string[]): string {
  const message = err instanceof Error ? err.message : String(err);
  const option = quotedOption(message);
  if (!option) return message.split('\n')[0]!;
  if (/^Unknown option/.test(message)) {
    return `unknown option ${option} (rebind help lists each command's options)`;
  }
  if (/argument missing/.test(message)) return `${option} needs a value: ${option} <value>`;
  if (/argument is ambiguous/.test(message)) {
    const value = valueAfter(argv, option) ?? '-value';
    // `--token --server x`: most likely the value was left out, not meant to be "--server".
    if (/^--[a-z]/.test(value)) return `${option} needs a value (${value} after it is the next option); a value that begins with "-" is written ${longForm(option)}=<value>`;
    return `${option} ${value}: a value that begins with "-" reads as an option; write ${longForm(option)}=${value}`;
  }
  if (/does not take an argument/.test(message)) return `${option} takes no value: write ${option} alone`;
  return message.split('\n')[0]!;
}
