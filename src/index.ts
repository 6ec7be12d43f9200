// The entry point the runner starts (through dist/); everything testable lives in main.ts.
import { run } from './main.ts';

await run();
