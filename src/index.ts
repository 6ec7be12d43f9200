// The entry point the runner starts (through dist/); everything testable lives in main.ts. `run` reports its own
// failures through setFailed and never rejects.
import { run } from './main.ts';

void run();
