// npm test's set-up (the "pretest" script): the browser tests need a real Chromium, from the machine's Debian
// packages. Installed here when missing and this user may (root with apt-get, as on CI); otherwise a loud line says
// why the browser tests will be skipped. Never a browser download of a test tool's own.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = '/usr/bin/chromium';
const say = (line) => console.log(`[ensure-chromium] ${line}`);

if (existsSync(CHROMIUM)) {
  say(`${CHROMIUM} is installed.`);
} else if (process.platform !== 'linux' || process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).error) {
  say(`*** ${CHROMIUM} is missing and cannot be installed here (needs root and apt-get): the browser tests will be SKIPPED. ***`);
} else {
  say("Installing Debian's chromium for the browser tests (apt-get) …");
  const run = (args) =>
    spawnSync('apt-get', args, { stdio: 'inherit', timeout: 15 * 60_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const update = run(['update']);
  const install = update.status === 0 ? run(['install', '-y', '--no-install-recommends', 'chromium']) : update;
  say(
    install.status === 0 && existsSync(CHROMIUM)
      ? `installed ${CHROMIUM}.`
      : `*** apt-get could not install chromium (exit ${install.status}): the browser tests will be SKIPPED. ***`,
  );
}
