import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

// The token in a file that later steps and tools read at any time (k6's open(), a shell loop): readable by this user
// only, replaced atomically (a reader sees the old token or the new one, never half of one), and no trailing newline
// (a header built from the file must not carry one).

/** A fresh folder of this user's only, under `parent` (RUNNER_TEMP, or the system's temporary folder). */
export function tokenFilePath(parent: string): string {
  const dir = mkdtempSync(join(parent, 'iap-token-'));
  chmodSync(dir, 0o700);
  return join(dir, 'token');
}

export function writeTokenFile(path: string, token: string): void {
  writeFileAtomically(path, token);
}

/** Writes `text` to a new file beside `path`, readable by this user only, then renames it over `path`. */
export function writeFileAtomically(path: string, text: string): void {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/** Removes the token file, and the folder `tokenFilePath` made for it (never any other folder). */
export function removeTokenFile(path: string): void {
  rmSync(path, { force: true });
  const dir = dirname(path);
  if (basename(path) === 'token' && basename(dir).startsWith('iap-token-')) rmSync(dir, { recursive: true, force: true });
}
