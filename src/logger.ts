// Where progress goes, in one shape for every layer: a `LogLine` takes one line (standard error in the CLI, the
// agent's log file, a proxy's log); a `Logger` tells information from warnings (the runner's log shows warnings as
// annotations). The action's own Logger is src/log.ts's `log`, which sanitises every line for the runner.

/** Takes one line of progress; never a secret (every writer redacts, the runner's also masks). */
export type LogLine = (line: string) => void;

/** Where a run reports: the runner's log in the action, standard error in the CLI, the agent's log file. */
export interface Logger {
  readonly info: LogLine;
  readonly warning: LogLine;
}

/** A Logger over one line writer, warnings marked as such (standard error, the agent's log file). */
export function lineLogger(write: LogLine): Logger {
  return { info: write, warning: (line) => write(`warning: ${line}`) };
}

/** For work whose progress is someone else's to report (the doctor's minters). */
export const QUIET: Logger = { info: () => undefined, warning: () => undefined };
