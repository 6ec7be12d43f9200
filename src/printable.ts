/**
 * Text from elsewhere (a server's error, a file's field, an argument) made safe to show on a terminal: every C0 and
 * C1 control character but the line break becomes a space. A terminal acts on escape sequences wherever they appear:
 * OSC 52 writes the clipboard, OSC 8 hides a link behind words, CSI clears the screen, OSC 0 retitles the window; and
 * U+009B is CSI in one character. Replaced rather than dropped, so that the words either side stay apart and the
 * sequence's text stays visible for what it was. The line break is kept: multi-line messages stay multi-line.
 *
 * One home for the rule, imported by every writer to a terminal: the doctor's report and the CLI's standard error.
 * (The action's log has its own sanitiser in log.ts, for the runner's commands; this module imports nothing, so the
 * CLI, which never loads the Actions toolkit, can use it.)
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, ' ');
}
