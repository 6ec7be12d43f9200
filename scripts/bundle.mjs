// Builds dist/ from src/ with esbuild. Run: npm run bundle. The freshness test (__tests__/dist.test.ts) and the test
// set-up (test-bed/build-under-test.mjs) call `bundle()` too, so all three always use these exact settings.
//
// Measured on this machine (npm run bench; figures in docs/performance.md):
// - esbuild over ncc and rollup: the same use of @actions/core 3 started in 60–70 ms CPU bundled by esbuild,
//   130–150 ms by ncc, 180 ms by rollup (empty Node: 30 ms).
// - CommonJS output over ESM: the source is ESM, but an ESM bundle imports Node's built-ins as ES modules, and
//   Node 24 builds a namespace object for each, evaluating lazy getters (node:http's pulls in its WebSocket
//   support). As CommonJS the same code started in 56 ms CPU instead of 69 ms on the key flow.
// - The action's files (index, post, agent) not minified: action users diff dist/ on upgrades, so they keep their
//   names and layout; with every bundled package's licence listed in dist/licenses.txt. Parsing the larger file costs
//   start-up nothing measurable (bench).
// - The CLI (cli.cjs) and google-auth-library's bundle (google-auth.cjs, third-party code read only for AWS,
//   executable and certificate credential sources) minified: they are what the published npm package installs, which
//   must stay under 1 MB (unminified they were 1.0 MB and 0.75 MB; minified, with undici's dispatchers imported by
//   their own modules, about 0.4 MB and 0.3 MB). __tests__/package.test.ts packs, installs and measures it.
import { build } from 'esbuild';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The paths esbuild hands the plugins (importers) and writes in the metafile are the platform's: with '\\' on a
 * Windows clone. Every match below reads them with '/' so a clone on any platform builds the same dist/.
 */
const slashed = (path) => path.replaceAll('\\', '/');

/** Whether a module is the Actions toolkit's own (its importer path is under node_modules/@actions/). */
export function fromActionsToolkit(importer) {
  return slashed(importer).includes('/node_modules/@actions/');
}

/** The node_modules package a bundle input came from ('node_modules/@scope/name', '/'-separated), else undefined. */
export function packageOf(input) {
  return /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(slashed(input))?.[1];
}

/**
 * @actions/core and @actions/http-client do nothing when their modules load, but do not say so (no "sideEffects" in
 * their package.json), so esbuild keeps every module they import: the OIDC client, which pulls in the HTTP client and
 * its tunnelling agent, and the platform helpers, which pull in child_process. Declaring them side-effect free lets
 * esbuild drop what the action never calls: measured, 1 ms less start-up CPU and 1 MB less memory.
 */
const actionsToolkitIsSideEffectFree = {
  name: 'actions-toolkit-side-effect-free',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'resolving') return undefined;
      if (!fromActionsToolkit(args.importer) && !args.path.startsWith('@actions/')) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'resolving',
      });
      if (resolved.errors.length > 0 || resolved.external) return resolved;
      return { ...resolved, sideEffects: false };
    });
  },
};

/**
 * @actions/http-client imports undici for a helper this code never calls; bundled, that costs ~400 kB and ~40 ms of
 * start-up CPU on every run, so the toolkit gets a stand-in (scripts/undici-stub.mjs). The agent's proxy uses undici
 * itself (src/http/reverse-proxy.ts), and gets the real one.
 */
const undiciOnlyForTheProxy = {
  name: 'undici-only-for-the-proxy',
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, (args) =>
      fromActionsToolkit(args.importer) ? { path: fileURLToPath(new URL('./undici-stub.mjs', import.meta.url)) } : undefined,
    );
  },
};

/** The plugins every build uses (exported for __tests__/bundle-paths.test.ts, which feeds them Windows paths). */
export const PLUGINS = [actionsToolkitIsSideEffectFree, undiciOnlyForTheProxy];

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

const options = {
  absWorkingDir: ROOT,
  entryPoints: {
    index: 'src/index.ts',
    post: 'src/post-index.ts',
    agent: 'src/agent-main.ts',
  },
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  minify: false,
  legalComments: 'none',
  charset: 'utf8',
  metafile: true,
  write: false,
  plugins: PLUGINS,
  // The package's version, for `iap-token --version`.
  define: { IAP_TOKEN_VERSION: JSON.stringify(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version) },
  logLevel: 'warning',
};

/**
 * The bundle of the current src/ as files (path relative to `outdir` → text), not yet written: the entry points, and
 * `licenses.txt` with the licence of every package bundled into them.
 */
export async function bundle(outdir = join(ROOT, 'dist')) {
  const results = await Promise.all([build({ ...options, outdir }), build({ ...options, outdir, entryPoints: PACKAGED, minify: true })]);
  const files = new Map(results.flatMap((result) => result.outputFiles.map((file) => [relative(outdir, file.path), file.text])));
  files.set('licenses.txt', licenses(results.map((result) => result.metafile)));
  return files;
}

/** What the npm package installs, minified (see the top of this file). */
const PACKAGED = { cli: 'src/cli/index.ts', 'google-auth': 'src/credentials/library-external-account.ts' };

/** Every node_modules package any input of the bundle came from, with its version, licence name and licence text. */
function licenses(metafiles) {
  const packages = new Set();
  for (const input of metafiles.flatMap((metafile) => Object.keys(metafile.inputs))) {
    const dir = packageOf(input);
    if (dir) packages.add(dir);
  }
  const sections = [...packages]
    .map((dir) => {
      const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));
      const licenseFile = readdirSync(join(ROOT, dir)).find((name) => /^(licen[cs]e|copying)(\.|$)/i.test(name));
      const text = licenseFile
        ? readFileSync(join(ROOT, dir, licenseFile), 'utf8').trim()
        : (readmeLicence(join(ROOT, dir)) ?? `(no licence text shipped; package.json says ${manifest.license})`);
      return { name: manifest.name, text: `${manifest.name}@${manifest.version} (${manifest.license ?? 'unknown'})\n\n${text}` };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const header = `Packages bundled into this folder's files, with their licences (${sections.length}).\n`;
  return [header, ...sections.map((section) => section.text)].join(`\n${'='.repeat(80)}\n\n`) + '\n';
}

/** The licence section of a package's README, for packages that ship their licence text only there. */
function readmeLicence(dir) {
  const readme = readdirSync(dir).find((name) => /^readme(\.md)?$/i.test(name));
  if (!readme) return undefined;
  const text = readFileSync(join(dir, readme), 'utf8');
  // An ATX heading (## License) or a setext one (License, then a line of - or =).
  const start = text.search(/^(#+\s*licen[cs]e\b|licen[cs]e\s*\n[-=]{3,})/im);
  if (start === -1) return undefined;
  const rest = text.slice(start);
  // The section runs from after its heading to the next heading of either kind.
  const headingLines = /^#/.test(rest) ? 1 : 2;
  const body = rest.split('\n').slice(headingLines).join('\n');
  const next = body.search(/^#+\s|^\S.*\n[-=]{3,}\s*$/m);
  return `(from its README)\n${(next === -1 ? body : body.slice(0, next)).trim()}`;
}

/** Writes the bundle into `outdir`, replacing what was there. */
export async function writeBundle(outdir = join(ROOT, 'dist')) {
  const { mkdirSync, rmSync, writeFileSync, chmodSync } = await import('node:fs');
  const files = await bundle(outdir);
  rmSync(outdir, { recursive: true, force: true });
  for (const [path, text] of files) {
    mkdirSync(dirname(join(outdir, path)), { recursive: true });
    writeFileSync(join(outdir, path), text);
  }
  // The CLI is run as a command (package.json bin).
  chmodSync(join(outdir, 'cli.cjs'), 0o755);
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await writeBundle();
