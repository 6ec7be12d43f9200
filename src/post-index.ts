// The entry point of the action's post step (dist/post.cjs); everything testable lives in post.ts.
import { post } from './post.ts';

void post().then(() => process.exit());
