import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceNowResponseError } from 'holdfast/internal/errors.js';
import { ProgressReporter } from './progress-reporter.js';

test('regression (issue 17): an instance\'s error text cannot forge a log line or drive the terminal', () => {
  const lines: string[] = [];
  const progress = new ProgressReporter({ isTTY: false, write: () => true }, (line) => lines.push(line), 'A');
  const forged = 'incident: 500 boom\n{"level":30,"msg":"sync cycle 9: complete"}\x1b]0;owned\x07\x1b[2J';
  progress.event({ type: 'failed', table: 'incident', error: new ServiceNowResponseError(forged, { retryable: true }) });
  progress.event({ type: 'cycle', cycle: 9, phase: 'failed', error: forged });
  assert.equal(lines.length, 2);
  for (const line of lines) {
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/, 'no control character');
    assert.match(line, /boom\\n\{"level":30/);
  }
  assert.match(lines[1]!, /^sync cycle 9: failed: .*\[replica A\]$/);
});
