/** A process environment as we read it: every variable may be missing. */
export type Env = Readonly<Record<string, string | undefined>>;
