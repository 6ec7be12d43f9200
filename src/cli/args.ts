/** A usage mistake: the CLI prints it with the command's help and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string>>;
  readonly flags: ReadonlySet<string>;
}

/**
 * `--name value`, `--name=value` and boolean `--flag`, for the options each command declares; anything else is a
 * usage error that names it.
 */
export function parseArgs(
  argv: readonly string[],
  options: { values: readonly string[]; flags: readonly string[]; repeatable?: readonly string[] },
): ParsedArgs {
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--([a-z][a-z-]*)(?:=(.*))?$/s.exec(arg);
    if (!match) throw new UsageError(`unexpected argument "${arg}"`);
    const [, name = '', inline] = match;
    if (options.flags.includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.add(name);
    } else if (options.values.includes(name)) {
      // The next argument is the value, unless it is another option: `--client-id --port 8080` is a mistake, and
      // taking "--port" as the client would echo it in a later error.
      const next = inline === undefined ? argv[i + 1] : undefined;
      if (inline === undefined && next !== undefined && !next.startsWith('--')) i++;
      const value = inline ?? (next !== undefined && !next.startsWith('--') ? next : undefined);
      if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
      // A repeatable option's values are kept one per line, as the action's list inputs are.
      if (values[name] !== undefined && !options.repeatable?.includes(name)) throw new UsageError(`--${name} is given twice`);
      values[name] = values[name] === undefined ? value : `${values[name]}\n${value}`;
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { values, flags };
}
