// Types for scripts/bundle.mjs, which the tests and the test set-up import.
export declare const ROOT: string;
/** The bundle of the current src/ as files (path relative to `outdir` → text), not written. */
export declare function bundle(outdir?: string): Promise<Map<string, string>>;
/** Writes the bundle into `outdir`, replacing what was there. */
export declare function writeBundle(outdir?: string): Promise<Map<string, string>>;
/** Whether a module is the Actions toolkit's own, from its importer path ('/' or '\\' separated). */
export declare function fromActionsToolkit(importer: string): boolean;
/** The node_modules package a bundle input came from ('/'-separated), else undefined. */
export declare function packageOf(input: string): string | undefined;
/** The esbuild plugins every build uses. */
export declare const PLUGINS: import('esbuild').Plugin[];
