import type { Env } from '../env.ts';
import { Http } from '../http/client.ts';
import { readConfig, type InputReader } from '../inputs/index.ts';
import { renderReport } from '../doctor/report.ts';
import { redact } from '../secrets.ts';
import { runDoctor } from '../doctor/run.ts';
import { parseArgs, UsageError } from './args.ts';
import { flagInputs, withGcloudDefaults } from './flag-inputs.ts';
import { CLI_VOCABULARY, TOKEN_FLAGS } from './vocabulary.ts';
import type { LogLine } from '../logger.ts';

/**
 * `iap-token doctor URL`: the app's IAP set-up, diagnosed in layers, with a verdict and a fix per problem. The report
 * goes to standard output (text, or JSON with --json), progress to standard error; exit 0 when a token gets through.
 */
export async function doctorCommand(argv: readonly string[], env: Env, log: LogLine): Promise<number> {
  const [first, ...rest] = argv;
  const positional = first !== undefined && !first.startsWith('--');
  const { values, flags } = parseArgs(positional ? rest : argv, {
    values: [...TOKEN_FLAGS.map((flag) => flag.slice(2)), 'also', 'iap-resource'],
    flags: ['json', 'fail-on-problem'],
    repeatable: ['also'],
  });
  const url = positional ? first : values['url'];
  if (!url) throw new UsageError("give the app's URL: iap-token doctor https://app.example.com");
  if (positional && values['url']) throw new UsageError('give the URL once: as the first argument, or with --url');
  const fromFlags = flagInputs(values, env);
  const read: InputReader = (name) => {
    if (name === 'app_url') return url;
    if (name === 'doctor') return 'true';
    return fromFlags(name);
  };
  const config = readConfig(read, withGcloudDefaults(env), CLI_VOCABULARY);
  if (!config.doctor) throw new UsageError("give the app's URL: iap-token doctor https://app.example.com");
  const http = new Http({ log });
  const report = await runDoctor({ config, doctor: config.doctor, env, http, progress: log });
  // Redacted as every other line we print: a server could echo a token back in what the report quotes.
  const output = redact(flags.has('json') ? JSON.stringify(report, null, 2) : renderReport(report));
  await new Promise<void>((resolve) => process.stdout.write(`${output}\n`, () => resolve()));
  // 1 when no token got through; with --fail-on-problem, also when anything else is wrong (a way around IAP).
  return report.verdict.works && !(flags.has('fail-on-problem') && report.problems.length > 0) ? 0 : 1;
}
