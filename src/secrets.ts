/**
 * Every secret passes through here the moment it exists: the runner masks it in the log from the next line on, and
 * `redact` removes it from any text we produce ourselves (error messages), in case a service ever echoes one back.
 */
const known = new Set<string>();

/**
 * How a secret is hidden, chosen by the front door before anything else runs: the runner's mask command in the
 * action; nothing in the CLI, whose terminal is no log. Until one is chosen, registering a secret is a bug, and loud.
 */
let mask: (secret: string) => void = () => {
  throw new Error('no masker: the front door must call setMasker before any secret exists');
};

export function setMasker(masker: (secret: string) => void): void {
  mask = masker;
}

/** The shortest value worth masking; the runner would mask every `a` in the log for a one-letter "secret". */
const MIN_SECRET_LENGTH = 6;

export function registerSecret(value: string | undefined, { perLine = true }: { perLine?: boolean } = {}): void {
  if (!value) return;
  for (const candidate of perLine ? [value, ...value.split(/\r?\n/)] : [value]) {
    const trimmed = candidate.trim();
    if (trimmed.length < MIN_SECRET_LENGTH || known.has(trimmed)) continue;
    known.add(trimmed);
    // A multi-line value (a PEM key) is registered whole and line by line: the runner matches masks per line.
    // `perLine: false` is for documents (a key file's JSON) whose lines are not secret each on their own.
    mask(trimmed);
  }
}

export function redact(text: string): string {
  let out = text;
  // Longest first, so that a secret containing another is replaced whole; URL-encoded too, as a query or a form
  // (a redirect URL, a form body quoted back) would carry it.
  for (const secret of [...known].sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join('***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join('***');
  }
  return out;
}
