// Every SQL text `cowrie-db validate` sends. The checks and the verdict are decided in SQL
// (sql/functions/validate_checks*.sql, validate_verdict.sql); this module only reads them.
import { performance } from 'node:perf_hooks';
import type postgres from 'postgres';
import type { CheckResult, Group, Verdict, VerdictRow } from './types.js';

type Tx = postgres.TransactionSql;

/** What SQL needs from the client: this version's schema findings, the migration files. */
export interface ValidateContext {
  findings?: unknown[];
  findingsSource?: string;
  migrations?: { onDisk: string[]; files: Record<string, string> };
  /** The checks of the groups already run (later groups read them). */
  checks: CheckResult[];
}

export async function setTransactionLimits(tx: Tx, statementTimeoutMs: number, lockTimeoutMs: number): Promise<void> {
  await tx.unsafe(`set local statement_timeout = ${Number(statementTimeoutMs)}`);
  await tx.unsafe(`set local lock_timeout = ${Number(lockTimeoutMs)}`);
  await tx.unsafe(`set local idle_in_transaction_session_timeout = ${Number(statementTimeoutMs) + 60_000}`);
}

/** Whether validate_checks, validate_verdict and validate_settings are installed. */
export async function validateInstalled(tx: Tx): Promise<boolean> {
  const [row] = await tx`select to_regprocedure('validate_checks(text[],jsonb,jsonb)') is not null
                            and to_regprocedure('validate_verdict(jsonb,jsonb)') is not null
                            and to_regprocedure('validate_settings(jsonb)') is not null as ok`;
  return Boolean(row?.ok);
}

/** validate_settings(): the settings with SQL's defaults (the runbooks' thresholds) filled in. */
export async function effectiveSettings(tx: Tx, settings: object): Promise<Record<string, unknown>> {
  const [row] = await tx`select validate_settings(${tx.json(settings as postgres.JSONValue)}) as s`;
  return row?.s as Record<string, unknown>;
}

/** The client's own measurement: median round trip of three `select 1`, and who it is. */
export async function roundTrip(tx: Tx): Promise<{ medianMs: number; user: string }> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await tx`select 1`;
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const [who] = await tx`select current_user as u`;
  return { medianMs: times[1]!, user: String(who?.u) };
}

/** One group's checks, as validate_checks decides them. */
export async function groupChecks(tx: Tx, group: Group, settings: object, context: ValidateContext): Promise<CheckResult[]> {
  const rows = await tx`select name, check_group, title, status, severity, measured, display, threshold, detail, figures, duration_ms
                          from validate_checks(${[group]}::text[], ${tx.json(settings as postgres.JSONValue)}, ${tx.json(context as unknown as postgres.JSONValue)})`;
  return rows.map((r) => ({
    id: String(r.name),
    group: String(r.check_group) as Group,
    title: String(r.title),
    severity: r.severity as CheckResult['severity'],
    status: r.status as CheckResult['status'],
    measured: (r.measured as number | string | null) ?? null,
    display: String(r.display),
    threshold: (r.threshold as string | null) ?? null,
    message: String(r.detail),
    ...(r.figures === null ? {} : { details: r.figures }),
    durationMs: Number(r.duration_ms),
  }));
}

/** validate_verdict() over every check of the run (the client's connectivity one included). */
export async function verdictOf(tx: Tx, checks: CheckResult[]): Promise<VerdictRow> {
  const [row] = await tx`select verdict, exit_code, failing, reasons from validate_verdict(${tx.json(checks as unknown as postgres.JSONValue)})`;
  if (!row) throw new Error('validate_verdict() returned no row');
  return { verdict: row.verdict as Verdict, exitCode: Number(row.exit_code), failing: row.failing as string[], reasons: row.reasons as string[] };
}
