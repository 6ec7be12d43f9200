// The entry point the runner starts (through dist/); everything testable lives in main.ts. `run` reports its own
// failures through setFailed and never rejects. Once it is done the step is over: exit, rather than wait on a socket a
// misbehaving proxy may hold open (a CONNECT that never completes outlives the request that gave up on it).
import { run } from './main.ts';

// The error line setFailed wrote may still sit in a pipe's buffer (asynchronous on some platforms): exit once
// standard output and error have taken everything.
void run().then(() => process.stdout.write('', () => process.stderr.write('', () => process.exit())));
