// The three outputs of `cowrie-db validate`: the terminal report (verdict first, then the
// failures, then the rest), the JSON document (--json) and JUnit XML (--junit <file>).
import type { ValidateReport } from './run.js';
import { isFailure, type CheckResult } from './types.js';

const VERDICT_WORDS: Record<ValidateReport['verdict'], string> = {
  GO: 'GO: ready (no CRITICAL or ERROR finding)',
  'NO-GO': 'NO-GO: at least one ERROR',
  CRITICAL: 'CRITICAL: a critical finding blocks everything else',
  'COULD-NOT-RUN': 'COULD NOT RUN: some checks could not be evaluated',
};

function statusWord(c: CheckResult): string {
  if (c.status === 'fail') return c.severity === 'INFO' ? 'INFO' : c.severity;
  if (c.status === 'error') return 'NOT RUN';
  if (c.status === 'skip') return 'SKIP';
  return c.severity === 'INFO' ? 'INFO' : 'PASS';
}

function line(c: CheckResult, idWidth: number): string {
  const value = c.display + (c.threshold ? ` (want ${c.threshold})` : '');
  return `  ${statusWord(c).padEnd(8)} ${c.id.padEnd(idWidth)} ${value}\n  ${' '.repeat(8)} ${' '.repeat(idWidth)} ${c.message}`;
}

export function renderText(report: ValidateReport): string {
  const out: string[] = [];
  const s = report.summary;
  out.push(`cowrie-db validate: ${VERDICT_WORDS[report.verdict]} (exit ${report.exitCode})`);
  out.push(`database ${report.database}; ${s.total} checks: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped, ${s.errors} not run; ${(report.durationMs / 1000).toFixed(1)} s`);
  out.push(`read-only: one ${report.readOnly.transaction} transaction, statement_timeout ${report.readOnly.statementTimeoutMs / 1000}s, lock_timeout ${report.readOnly.lockTimeoutMs / 1000}s; nothing was written`);
  const order = { CRITICAL: 0, ERROR: 1, WARNING: 2, INFO: 3 };
  const failures = report.checks.filter(isFailure).sort((a, b) => (a.status === 'error' ? 1 : 0) - (b.status === 'error' ? 1 : 0) || order[a.severity] - order[b.severity]);
  const rest = report.checks.filter((c) => !isFailure(c));
  const w = Math.max(...report.checks.map((c) => c.id.length), 10);
  out.push('');
  if (failures.length) {
    out.push(`FAILURES (${failures.length})`);
    for (const c of failures) out.push(line(c, w));
  } else {
    out.push('FAILURES: none');
  }
  out.push('', 'OTHER CHECKS');
  for (const c of rest) out.push(line(c, w));
  const a = report.settings.accuracy;
  const t = (key: string) => String(report.settings.thresholds[key] ?? 'default');
  out.push('', `thresholds: coverage >= ${t('coverage')}%, accuracy >= ${t('accuracy')}% (sample ${a.sampleSize ?? 'default'}, --seed ${a.seed}), speedup >= ${t('speedup')}x; --json or --junit for the details`);
  return out.join('\n') + '\n';
}

export function renderJson(report: ValidateReport): string {
  return JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n';
}

const xml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
    // characters XML 1.0 does not allow
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');

/**
 * One <testsuite> per group, one <testcase> per check. CRITICAL/ERROR failures are
 * <failure>; checks that could not run are <error>; skipped ones <skipped>; WARNING
 * and INFO results pass, with their finding in <system-out> (CI stays green on them).
 */
export function renderJunit(report: ValidateReport): string {
  const groups = [...new Set(report.checks.map((c) => c.group))];
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  const suites = groups.map((g) => {
    const cs = report.checks.filter((c) => c.group === g);
    const failures = cs.filter((c) => c.status === 'fail' && (c.severity === 'CRITICAL' || c.severity === 'ERROR')).length;
    const errors = cs.filter((c) => c.status === 'error').length;
    const skipped = cs.filter((c) => c.status === 'skip').length;
    const cases = cs.map((c) => {
      const head = `    <testcase classname="cowrie-db.validate.${xml(g)}" name="${xml(c.id)}" time="${secs(c.durationMs)}">`;
      const text = `${c.severity} ${c.status}: measured ${c.display}${c.threshold ? `, threshold ${c.threshold}` : ''}: ${c.message}`;
      let body = '';
      if (c.status === 'fail' && (c.severity === 'CRITICAL' || c.severity === 'ERROR')) {
        body = `\n      <failure type="${c.severity}" message="${xml(`${c.display}${c.threshold ? ` (want ${c.threshold})` : ''}: ${c.message}`.slice(0, 1000))}">${xml(text)}</failure>`;
      } else if (c.status === 'error') {
        body = `\n      <error type="NOT RUN" message="${xml(c.message.slice(0, 1000))}">${xml(text)}</error>`;
      } else if (c.status === 'skip') {
        body = `\n      <skipped message="${xml(c.message.slice(0, 1000))}"/>`;
      }
      return `${head}${body}\n      <system-out>${xml(text)}</system-out>\n    </testcase>`;
    });
    const time = cs.reduce((n, c) => n + c.durationMs, 0);
    return `  <testsuite name="${xml(g)}" tests="${cs.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${secs(time)}" timestamp="${report.startedAt.slice(0, 19)}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  const all = report.checks;
  const failures = all.filter((c) => c.status === 'fail' && (c.severity === 'CRITICAL' || c.severity === 'ERROR')).length;
  const errors = all.filter((c) => c.status === 'error').length;
  const skipped = all.filter((c) => c.status === 'skip').length;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="cowrie-db validate: ${xml(report.verdict)}" tests="${all.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${secs(report.durationMs)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
