// Preloaded into every measured process (the action and the empty baseline alike): reports the process's own CPU
// time and peak RSS on exit through fd 3, with microsecond precision that /usr/bin/time's 10 ms ticks lack.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  const usage = process.resourceUsage();
  writeSync(3, JSON.stringify({ cpuUs: usage.userCPUTime + usage.systemCPUTime, maxRssKb: usage.maxRSS }));
});
