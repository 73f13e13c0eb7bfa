// The vocabulary of `cowrie-db validate`: checks, their severity and outcome, the verdict.

/** What a FAILED check means. INFO checks only measure and never fail. */
export type Severity = 'CRITICAL' | 'ERROR' | 'WARNING' | 'INFO';
export const SEVERITIES: readonly Severity[] = ['CRITICAL', 'ERROR', 'WARNING', 'INFO'];

/**
 * pass: measured and within the threshold; fail: measured and outside it (its severity
 * applies); skip: not applicable or blocked by an earlier finding (the message says which);
 * error: could not be evaluated (timeout, permissions, missing function).
 */
export type Status = 'pass' | 'fail' | 'skip' | 'error';

export type Group = 'connection' | 'schema' | 'coverage' | 'accuracy' | 'data_quality' | 'performance' | 'readiness';
export const GROUPS: readonly Group[] = ['connection', 'schema', 'coverage', 'accuracy', 'data_quality', 'performance', 'readiness'];

export interface CheckResult {
  /** Stable id, e.g. "coverage.filled"; the group is its first part. */
  id: string;
  group: Group;
  title: string;
  severity: Severity;
  status: Status;
  /** The measured value (a number when it is one), and how the report prints it. */
  measured: number | string | null;
  display: string;
  /** The threshold in words, e.g. ">= 95%"; null when the check has none. */
  threshold: string | null;
  /** One line: what was found and what it means. */
  message: string;
  details?: unknown;
  durationMs: number;
}

export type Verdict = 'GO' | 'NO-GO' | 'CRITICAL' | 'COULD-NOT-RUN';

export const VERDICT_EXIT: Record<Verdict, number> = { GO: 0, 'NO-GO': 1, CRITICAL: 2, 'COULD-NOT-RUN': 3 };

/**
 * CRITICAL if any CRITICAL check failed; else NO-GO if any ERROR check failed; else
 * COULD-NOT-RUN if a check could not be evaluated (its absence must not read as GO);
 * else GO. WARNING and INFO never change the verdict.
 */
export function verdictOf(checks: readonly CheckResult[]): Verdict {
  const failed = (s: Severity) => checks.some((c) => c.status === 'fail' && c.severity === s);
  if (failed('CRITICAL')) return 'CRITICAL';
  if (failed('ERROR')) return 'NO-GO';
  if (checks.some((c) => c.status === 'error')) return 'COULD-NOT-RUN';
  return 'GO';
}

export function isFailure(c: CheckResult): boolean {
  return (c.status === 'fail' && c.severity !== 'INFO') || c.status === 'error';
}
