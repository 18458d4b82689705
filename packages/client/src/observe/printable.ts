/** C0 and C1 control characters and DEL, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Text from a peer (an instance's error message, a header) made safe for one line of a
 * log or a terminal: every control character is written as a visible escape (`\n`,
 * `\x1b`, `\u2028`), so a value can neither start a forged log line nor move the cursor,
 * recolour or retitle a terminal.
 *
 * @example
 * printable('boom\n2026-12-04 sync ok\x1b[2J'); // 'boom\\n2026-12-04 sync ok\\x1b[2J'
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}
