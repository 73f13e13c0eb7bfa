// `cowrie-db validate` orchestration: one REPEATABLE READ READ ONLY transaction with a
// statement and lock timeout; each group of checks is one call of validate_checks() in its
// own savepoint; the verdict is validate_verdict()'s. What each check finds, its status and
// severity, the thresholds and the verdict are decided in SQL; this file only gathers what
// the client alone knows (this version's schema findings, the migration files, its round
// trip) and assembles the report.
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Database } from '../db/connect.js';
import { migrationNames } from '../db/migrate.js';
import { migrationFileChecksums } from '../db/migration-checksums.js';
import { errorMessage } from '../errors.js';
import { readFindings } from '../schema/findings.js';
import { log } from '../log.js';
import { groupEnabled, type ValidateConfig } from './config.js';
import { effectiveSettings, groupChecks, roundTrip, setTransactionLimits, validateInstalled, verdictOf, type ValidateContext } from './sql.js';
import { GROUPS, type CheckResult, type Group, type Verdict, type VerdictRow } from './types.js';

export interface ValidateReport {
  tool: 'cowrie-db validate';
  verdict: Verdict;
  exitCode: number;
  /** The checks that decide the verdict (validate_verdict's failing). */
  decidedBy: string[];
  database: string;
  startedAt: string;
  durationMs: number;
  readOnly: { transaction: string; statementTimeoutMs: number; lockTimeoutMs: number; written: 'nothing' };
  settings: {
    /** As validate_settings() filled them in (empty when validate could not connect). */
    thresholds: Record<string, unknown>;
    accuracy: { sampleSize?: number; seed: number };
    performance: Record<string, unknown>;
    groups: string[];
  };
  summary: { total: number; passed: number; failed: number; skipped: number; errors: number };
  checks: CheckResult[];
}

export const TRANSACTION_MODE = 'isolation level repeatable read read only';

/** The settings validate_settings() reads, from the config (keys it leaves out take SQL's defaults). */
function sqlSettings(config: ValidateConfig, seed: number): object {
  return {
    thresholds: config.thresholds,
    accuracy: { ...config.accuracy, seed },
    performance: config.performance,
    readiness: config.readiness,
    severity: config.severity,
  };
}

function buildReport(database: string, config: ValidateConfig, effective: Record<string, unknown> | undefined, seed: number,
  checks: CheckResult[], verdict: VerdictRow, startedAt: Date, durationMs: number): ValidateReport {
  const accuracy = (effective?.accuracy ?? {}) as { sampleSize?: number };
  return {
    tool: 'cowrie-db validate',
    verdict: verdict.verdict,
    exitCode: verdict.exitCode,
    decidedBy: verdict.failing,
    database,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(durationMs),
    readOnly: { transaction: 'REPEATABLE READ, READ ONLY', statementTimeoutMs: config.statementTimeoutMs, lockTimeoutMs: config.lockTimeoutMs, written: 'nothing' },
    settings: {
      thresholds: (effective?.thresholds ?? config.thresholds) as Record<string, unknown>,
      accuracy: { sampleSize: accuracy.sampleSize ?? config.accuracy.sampleSize, seed },
      performance: (effective?.performance ?? config.performance) as Record<string, unknown>,
      groups: GROUPS.filter((g) => groupEnabled(config, g)),
    },
    summary: {
      total: checks.length,
      passed: checks.filter((c) => c.status === 'pass').length,
      failed: checks.filter((c) => c.status === 'fail').length,
      skipped: checks.filter((c) => c.status === 'skip').length,
      errors: checks.filter((c) => c.status === 'error').length,
    },
    checks,
  };
}

export interface RunOptions {
  /** Kept for scripts (--no-full-drift); no effect: drift is always schema_findings(), as check has it. */
  fullDrift?: boolean;
}

/** A group whose validate_checks() call failed as a whole (statement timeout, missing function). */
function groupError(group: Group, message: string): CheckResult {
  return {
    id: `${group}.checks`, group, title: `the ${group} checks`, severity: group === 'connection' ? 'CRITICAL' : 'ERROR', status: 'error',
    measured: null, display: '-', threshold: null, message, durationMs: 0,
  };
}

export function describeError(err: unknown, statementTimeoutMs: number): string {
  const code = (err as { code?: string }).code;
  const msg = errorMessage(err);
  if (code === '57014') return `could not run: statement timeout (${statementTimeoutMs / 1000}s) reached; raise --statement-timeout (${msg})`;
  if (code === '42883') return `could not run: ${msg} (cowrie-db migrate installs the functions)`;
  if (code === '42501') return `could not run: permission denied: ${msg} (validate needs SELECT on the upstream tables and EXECUTE on the validate_* functions)`;
  return `could not run: ${msg}`;
}

export async function runValidate(db: Database, config: ValidateConfig, _options: RunOptions = {}): Promise<ValidateReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const context: ValidateContext = { checks: [] };
  // schema_findings() of this version, in a transaction that is rolled back (it writes
  // nothing); when this role cannot load it, SQL reads the installed copy instead.
  if (groupEnabled(config, 'schema')) {
    try {
      const read = await readFindings(db.sql);
      context.findings = read.findings;
      context.findingsSource = read.source === 'current' ? 'schema_findings() of this version' : 'installed schema_findings()';
    } catch (err) {
      log.verbose(`schema_findings() could not be read before the check (${(err as Error).message})`);
    }
    context.migrations = { onDisk: migrationNames(), files: Object.fromEntries(migrationFileChecksums().map((f) => [f.name, f.sha256])) };
  }
  const seed = config.accuracy.seed ?? randomInt(0, 2_147_483_647);
  const settings = sqlSettings(config, seed);
  const { checks, verdict, effective } = await db.sql.begin(TRANSACTION_MODE, async (tx) => {
    await setTransactionLimits(tx, config.statementTimeoutMs, config.lockTimeoutMs);
    const started = performance.now();
    const trip = await roundTrip(tx);
    const connectivity: CheckResult = {
      id: 'connection.connectivity', group: 'connection', title: 'Connectivity', severity: 'CRITICAL', status: 'pass',
      measured: Math.round(trip.medianMs * 100) / 100, display: `${trip.medianMs.toFixed(2)} ms`, threshold: null,
      message: `connected to ${db.label} as ${trip.user}; round trip ${trip.medianMs.toFixed(2)} ms (median of 3)`,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    };
    const all: CheckResult[] = [connectivity];
    if (!(await validateInstalled(tx))) {
      all.push(groupError('connection', 'could not run: function validate_checks(text[],jsonb,jsonb) / validate_verdict(jsonb,jsonb) is not installed in this database (cowrie-db migrate installs it)'));
      return { checks: all, verdict: { verdict: 'COULD-NOT-RUN' as Verdict, exitCode: 3, failing: ['connection.checks'], reasons: [] }, effective: undefined };
    }
    const effective = await effectiveSettings(tx, settings);
    for (const group of GROUPS.filter((g) => groupEnabled(config, g))) {
      try {
        const rows = await tx.savepoint((sp) => groupChecks(sp as unknown as typeof tx, group, settings, context));
        all.push(...rows);
        context.checks.push(...rows);
      } catch (err) {
        all.push(groupError(group, describeError(err, config.statementTimeoutMs)));
      }
    }
    return { checks: all, verdict: await verdictOf(tx, all), effective };
  });
  return buildReport(db.label, config, effective, seed, checks, verdict, startedAt, performance.now() - t0);
}

/** The report when validate could not even connect (exit 3): no SQL to ask. */
export function couldNotConnect(database: string, config: ValidateConfig, message: string): ValidateReport {
  const check: CheckResult = {
    id: 'connection.connectivity', group: 'connection', title: 'Connectivity', severity: 'CRITICAL', status: 'error',
    measured: null, display: '-', threshold: null, message, durationMs: 0,
  };
  return buildReport(database, config, undefined, config.accuracy.seed ?? 0, [check],
    { verdict: 'COULD-NOT-RUN', exitCode: 3, failing: [check.id], reasons: [`${check.id}: ${message}`] }, new Date(), 0);
}
