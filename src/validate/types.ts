// The vocabulary of `cowrie-db validate`: checks, their severity and outcome, the verdict
// (all decided in SQL: validate_checks(), validate_verdict()).

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

/** The verdict and exit code are validate_verdict()'s (sql/functions/validate_verdict.sql). */
export interface VerdictRow {
  verdict: Verdict;
  exitCode: number;
  /** The ids of the checks that decide it. */
  failing: string[];
  reasons: string[];
}

/** How the report groups a check: a failure that counts (not INFO), or one that could not run. */
export function isFailure(c: CheckResult): boolean {
  return (c.status === 'fail' && c.severity !== 'INFO') || c.status === 'error';
}
