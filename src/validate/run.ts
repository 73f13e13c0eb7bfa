// `cowrie-db validate` orchestration: one REPEATABLE READ READ ONLY transaction with a
// statement and lock timeout, every check in its own savepoint, then the verdict.
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Database } from '../db/connect.js';
import { readFindings } from '../schema/findings.js';
import { log } from '../log.js';
import { groupEnabled, type ValidateConfig } from './config.js';
import { accuracyChecks, coverageChecks, dataQualityChecks, readinessChecks } from './checks-data.js';
import { performanceChecks } from './checks-performance.js';
import { connectionChecks, schemaChecks, type PreRead } from './checks-schema.js';
import { CheckRunner, type ValidateState } from './runner.js';
import { VERDICT_EXIT, verdictOf, type CheckResult, type Verdict } from './types.js';

export interface ValidateReport {
  tool: 'cowrie-db validate';
  verdict: Verdict;
  exitCode: number;
  database: string;
  startedAt: string;
  durationMs: number;
  readOnly: { transaction: string; statementTimeoutMs: number; lockTimeoutMs: number; written: 'nothing' };
  settings: {
    thresholds: ValidateConfig['thresholds'];
    accuracy: { sampleSize: number; seed: number };
    performance: ValidateConfig['performance'];
    groups: string[];
  };
  summary: { total: number; passed: number; failed: number; skipped: number; errors: number };
  checks: CheckResult[];
}

/** Every function a check calls; to_regprocedure() tells which are installed. */
const FUNCTIONS = [
  'validate_coverage()',
  'validate_accuracy(integer,bigint)',
  'validate_data_quality()',
  'validate_backfill_estimate(integer,bigint)',
  'validate_benchmark_queries(text,text,integer)',
  'validate_enrichment_shapes()',
  'backfill_snapshot_source(json,timestamptz,timestamptz)',
  'backfill_parse_ip(text)',
  'expected_constraints()',
  'schema_index_matches(text,text)',
];

export const TRANSACTION_MODE = 'isolation level repeatable read read only';

export function buildReport(database: string, config: ValidateConfig, seed: number, checks: CheckResult[], startedAt: Date, durationMs: number): ValidateReport {
  const verdict = verdictOf(checks);
  return {
    tool: 'cowrie-db validate',
    verdict,
    exitCode: VERDICT_EXIT[verdict],
    database,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(durationMs),
    readOnly: { transaction: 'REPEATABLE READ, READ ONLY', statementTimeoutMs: config.statementTimeoutMs, lockTimeoutMs: config.lockTimeoutMs, written: 'nothing' },
    settings: {
      thresholds: config.thresholds,
      accuracy: { sampleSize: config.accuracy.sampleSize, seed },
      performance: config.performance,
      groups: ['connection', 'schema', 'coverage', 'accuracy', 'data_quality', 'readiness', 'performance'].filter((g) => groupEnabled(config, g as never)),
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

export async function runValidate(db: Database, config: ValidateConfig, _options: RunOptions = {}): Promise<ValidateReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  // schema_findings() of this version, in a transaction that is rolled back (it writes
  // nothing); when this role cannot load it, the schema.drift check reads the installed copy
  // inside the read-only transaction instead.
  let pre: PreRead | null = null;
  if (groupEnabled(config, 'schema')) {
    try {
      const read = await readFindings(db.sql);
      pre = { findings: read.findings, source: read.source === 'current' ? 'schema_findings() of this version' : 'installed schema_findings()' };
    } catch (err) {
      log.verbose(`schema_findings() could not be read before the check (${(err as Error).message})`);
      pre = { error: (err as Error).message };
    }
  }
  const seed = config.accuracy.seed ?? randomInt(0, 2_147_483_647);
  const checks = await db.sql.begin(TRANSACTION_MODE, async (tx) => {
    await tx.unsafe(`set local statement_timeout = ${Number(config.statementTimeoutMs)}`);
    await tx.unsafe(`set local lock_timeout = ${Number(config.lockTimeoutMs)}`);
    await tx.unsafe(`set local idle_in_transaction_session_timeout = ${Number(config.statementTimeoutMs) + 60_000}`);
    const fns = await tx`select x, to_regprocedure(x) is not null as ok from unnest(${FUNCTIONS}::text[]) x`;
    const state: ValidateState = { functions: new Set(fns.filter((f) => f.ok).map((f) => String(f.x))) };
    const r = new CheckRunner(tx, config, state, config.statementTimeoutMs);
    await connectionChecks(r, db.label);
    if (groupEnabled(config, 'schema')) await schemaChecks(r, pre);
    let coverage;
    // Coverage is measured whenever a later group needs it (readiness, performance).
    if (['coverage', 'readiness', 'performance'].some((g) => groupEnabled(config, g as never))) {
      coverage = await coverageChecks(r);
      if (!groupEnabled(config, 'coverage')) r.results.splice(r.results.findIndex((c) => c.id === 'coverage.snapshots'), 2);
    }
    if (groupEnabled(config, 'accuracy')) await accuracyChecks(r, seed);
    if (groupEnabled(config, 'data_quality')) await dataQualityChecks(r);
    if (groupEnabled(config, 'readiness')) await readinessChecks(r, coverage, seed);
    if (groupEnabled(config, 'performance')) await performanceChecks(r);
    return r.results;
  });
  return buildReport(db.label, config, seed, checks, startedAt, performance.now() - t0);
}

/** The report when validate could not even connect (exit 3). */
export function couldNotConnect(database: string, config: ValidateConfig, message: string): ValidateReport {
  const check: CheckResult = {
    id: 'connection.connectivity', group: 'connection', title: 'Connectivity', severity: 'CRITICAL', status: 'error',
    measured: null, display: '-', threshold: null, message, durationMs: 0,
  };
  return buildReport(database, config, config.accuracy.seed ?? 0, [check], new Date(), 0);
}
