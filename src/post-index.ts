// The entry point of the action's post step (dist/post.cjs); everything testable lives in post.ts.
import { post } from './post.ts';

// Exit once standard output and error have taken every line (see src/index.ts).
void post().then(() => process.stdout.write('', () => process.stderr.write('', () => process.exit())));
