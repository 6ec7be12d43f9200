// Errors the action reports to its user. Every error that reaches `setFailed` is one of these, so the user reads a
// sentence that says what went wrong and what to do, never a stack trace.

/** A problem with what the user gave us (inputs, flags, environment); raised before any request or side effect. */
export class InputError extends Error {
  override readonly name = 'InputError';
  /** The input, flag or environment variable at fault, as the user spells it where they gave it. */
  readonly input: string;
  /**
   * `problem` reads after `label: ` (the action's "Input token_type", the CLI's "--token-type"), unless it is a sentence
   * that starts with the input's name itself.
   */
  constructor(input: string, problem: string, label = `Input ${input}`) {
    super(problem.startsWith(input) ? problem : `${label}: ${problem}`);
    this.input = input;
  }
}

/** Makes the error for one input in a front door's words: `Input audience: …` in the action, `--audience: …` in the CLI. */
export type Complain = (input: string, problem: string) => InputError;

/** The action's words: every input, and every environment variable it reads, is an "Input". */
export const complainAsAction: Complain = (input, problem) => new InputError(input, problem);

/**
 * A value for an error message. Inputs are echoed to help, but a long or structured value in the wrong input (a key
 * pasted into service_account) could be a secret the runner does not know to mask: those are described, not shown.
 */
export function quote(value: string): string {
  if (value.length <= 100 && !/[\r\n{}]/.test(value)) return `"${value}"`;
  return `a ${value.length}-character value (not shown: it may be a secret)`;
}

/** What Google (or GitHub) answered, parsed from whichever of its error formats the endpoint uses. */
export interface ApiFailure {
  /** HTTP status, or 0 when no response arrived (timeout, reset, refused). */
  readonly status: number;
  /** `invalid_grant`, `PERMISSION_DENIED`, `ECONNRESET`, …: the machine-readable code, when there is one. */
  readonly code?: string;
  /** The service's own message, quoted to the user. */
  readonly message: string;
  /** `IAM_PERMISSION_DENIED`, `SERVICE_DISABLED`, … from `error.details[].reason`. */
  readonly reason?: string;
  /** The IAM permission named in `error.details[].metadata.permission`. */
  readonly permission?: string;
}

/**
 * A request that failed for good (after any retries). `remedy` says what to change; the client that made the request
 * declared it up front (see `HttpRequest.remedy`), so the error is complete, and immutable, when it is thrown.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly what: string;
  readonly failure: ApiFailure;
  readonly attempts: number;
  readonly remedy: string | undefined;
  constructor(what: string, failure: ApiFailure, attempts: number, remedy?: string) {
    super(describeFailure(what, failure, attempts));
    this.what = what;
    this.failure = failure;
    this.attempts = attempts;
    this.remedy = remedy;
  }
}

/** A failure that is ours to explain without an HTTP exchange (a token that IAP would refuse, a bad response). */
export class ActionError extends Error {
  override readonly name = 'ActionError';
  readonly remedy: string | undefined;
  constructor(message: string, remedy?: string) {
    super(message);
    this.remedy = remedy;
  }
}

function describeFailure(what: string, failure: ApiFailure, attempts: number): string {
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  if (failure.status === 0) return `${what} failed${tries}: ${failure.message}`;
  const code = failure.code ? ` ${failure.code}` : '';
  return `${what} failed${tries}: HTTP ${failure.status}${code}: ${failure.message}`;
}

/** The text the user sees for any error: the message, then the remedy on its own line. */
export function explain(error: unknown): string {
  if (error instanceof ApiError || error instanceof ActionError) {
    return error.remedy ? `${error.message}\n${error.remedy}` : error.message;
  }
  if (error instanceof InputError) return error.message;
  // A bug of ours: say so without a stack trace, which could carry request data.
  return `Unexpected error: ${messageOf(error)}`;
}

/** An error's own message, whatever was thrown; no stack. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
