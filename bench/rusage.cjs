// Preloaded with --require into every measured process (the action and the empty baseline alike): reports the
// process's own CPU time (user + sys, from getrusage) and peak RSS on exit through fd 3, with microsecond precision
// that /usr/bin/time's 10 ms ticks lack. CommonJS, so that preloading it starts no ES module loader.
'use strict';
const { writeSync } = require('node:fs');

process.on('exit', () => {
  const usage = process.resourceUsage();
  writeSync(3, JSON.stringify({ cpuUs: usage.userCPUTime + usage.systemCPUTime, maxRssKb: usage.maxRSS }));
});
