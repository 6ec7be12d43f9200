// Preloaded with --require (and --expose-gc) into a process under test, as bench/rusage.cjs is into the benchmark's:
// on SIGUSR2 it collects all garbage, then writes one line to standard error, `memory-probe N {…}` (the Nth such line,
// then process.memoryUsage() in bytes), so that a test reads what the process still holds: not a peak, which depends
// on when V8 last collected, nor resident memory, which depends on what the allocator gave back.
'use strict';
const { setImmediate } = require('node:timers');

let probes = 0;
process.on('SIGUSR2', () => {
  globalThis.gc();
  // Once more after a turn of the loop: what the first collection's finalizers let go of goes too.
  setImmediate(() => {
    globalThis.gc();
    process.stderr.write(`memory-probe ${++probes} ${JSON.stringify(process.memoryUsage())}\n`);
  });
});
