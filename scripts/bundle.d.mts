// Types for scripts/bundle.mjs, which the tests and the test set-up import.
export declare const ROOT: string;
/** The bundle of the current src/ as files (path relative to `outdir` → text), not written. */
export declare function bundle(outdir?: string): Promise<Map<string, string>>;
/** Writes the bundle into `outdir`, replacing what was there. */
export declare function writeBundle(outdir?: string): Promise<Map<string, string>>;
