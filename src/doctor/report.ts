import type { TokenType } from '../config.ts';
import type { AnsweredBy, IapRefusal } from '../iap/answers.ts';
import { printable } from '../printable.ts';

/**
 * The doctor's findings, as the CLI prints them, the action's summary shows them and `--json` gives them to
 * machines. Nothing in a report is secret: tokens are described by their claims (aud, email, exp), never shown.
 */
export interface DoctorReport {
  readonly url: string;
  readonly resource: string;
  readonly layers: readonly Layer[];
  readonly trials: readonly TokenTrial[];
  readonly verdict: Verdict;
  readonly problems: readonly Problem[];
}

export interface Layer {
  readonly title: string;
  readonly checks: readonly Check[];
}

export interface Check {
  readonly status: 'ok' | 'problem' | 'info' | 'skipped';
  readonly text: string;
}

/** One token kind, minted with the caller's credential and sent to the URL. */
export interface TokenTrial {
  readonly kind: TokenType;
  readonly audience: string;
  /** What the minted token said about itself; absent when none was minted. */
  readonly sent: { readonly aud: string; readonly email: string; readonly exp: string } | undefined;
  readonly status: number | null;
  readonly from: AnsweredBy;
  /** Why IAP refused it, when IAP itself did. */
  readonly refusal: IapRefusal | undefined;
  /** passed: IAP let it through to the app; refused: IAP (or the app behind it) turned it away; not-minted. */
  readonly outcome: 'passed' | 'refused' | 'not-minted';
  readonly why: string;
}

export interface Verdict {
  /** A token got through IAP (exit 0). */
  readonly works: boolean;
  readonly tokenType: TokenType | undefined;
  readonly audience: string | undefined;
  readonly text: string;
}

export interface Problem {
  readonly title: string;
  readonly why: string;
  readonly gcloud: string | undefined;
  readonly terraform: string | undefined;
}

const MARK: Record<Check['status'], string> = { ok: '✓', problem: '✗', info: '·', skipped: '–' };

/** The report as text for a terminal or a log: layers, verdict, then each problem with its fixes. */
export function renderReport(report: DoctorReport): string {
  const lines = [`iap-token doctor ${report.url}`, ''];
  for (const [index, layer] of report.layers.entries()) {
    lines.push(`${index + 1}. ${layer.title}`);
    for (const check of layer.checks) lines.push(...indent(`${MARK[check.status]} ${check.text}`, '   ', '     '));
    lines.push('');
  }
  lines.push(`Verdict: ${report.verdict.text}`);
  if (report.problems.length) {
    lines.push('', `Problems (${report.problems.length}):`);
    for (const [index, problem] of report.problems.entries()) {
      lines.push(...indent(`${index + 1}. ${problem.title}: ${problem.why}`, '', '   '));
      if (problem.gcloud) lines.push('   gcloud:', ...problem.gcloud.split('\n').map((line) => `     ${line}`));
      if (problem.terraform) lines.push('   Terraform:', ...problem.terraform.split('\n').map((line) => `     ${line}`));
    }
  }
  return printable(lines.join('\n'));
}

function indent(text: string, first: string, rest: string): string[] {
  return text.split('\n').map((line, index) => `${index === 0 ? first : rest}${line}`);
}
