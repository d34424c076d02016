// Two kinds of red, kept apart on purpose: a claim about cc-ci that does not hold is "failed";
// a host or command the harness could not use is "broken". Allure and evidence.json sort on the
// error's name: names containing "Assert" count as failed, everything else as broken.

export interface RedDetail {
  /** What was checked, in the words of the Definition of Done. */
  claim: string;
  expected: string;
  seen: string;
  host: string;
  /** Evidence files (relative to the project root) that hold the details. */
  evidence?: string[];
}

/** One line per field: newlines inside a value are shown as \n. */
function oneLine(s: string): string {
  return s.replace(/\r?\n/g, '\\n');
}

let redactMessage: (text: string) => string = (t) => t;

/** Red messages carry command output: the run's redactor blanks known secrets in them as they are made. */
export function setMessageRedaction(redact: (text: string) => string): void {
  redactMessage = redact;
}

export function formatRed(d: RedDetail): string {
  return redactMessage(formatRedRaw(d));
}

function formatRedRaw(d: RedDetail): string {
  const lines = [d.claim, `  expected: ${oneLine(d.expected)}`, `  seen:     ${oneLine(d.seen)}`, `  host:     ${d.host}`];
  if (d.evidence?.length) lines.push(`  evidence: ${d.evidence.join(', ')}`);
  return lines.join('\n');
}

export class ClaimAssertionError extends Error {
  override name = 'ClaimAssertionError';
  readonly expected: string;
  readonly actual: string;
  readonly host: string;
  /** The message already says expected and seen; a reporter's diff of the two would repeat it. */
  readonly showDiff = false;
  constructor(readonly detail: RedDetail) {
    super(formatRed(detail));
    this.expected = redactMessage(detail.expected);
    this.actual = redactMessage(detail.seen);
    this.host = detail.host;
  }
}

export class HostBrokenError extends Error {
  override name = 'HostBrokenError';
  readonly host: string;
  constructor(readonly detail: RedDetail) {
    super(formatRed(detail));
    this.host = detail.host;
  }
}

/** Bad input: exit 2, before any host is contacted. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = 2;
}

export const FAILED_ERROR_NAMES = /assert|expectation/i;

/** The lab could not be made or used (a host that died, an address in use): exit 1, no stack. */
export class LabError extends Error {
  override name = 'LabError';
}
