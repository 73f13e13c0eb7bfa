// The runner's view of the SQL backfill engine (sql/functions/backfill_snapshots*.sql,
// sql/migrations/003_backfill-state.sql, sql/views/backfill_progress.sql). Every SQL
// text the runner sends lives here; the runner itself holds no backfill logic: the
// procedure decides what to fill, checkpoints, resumes, and records the undo.
import type postgres from 'postgres';
import { CliError, ExitCode } from '../errors.js';
import { countOf, isoOrNull, numberOrNull } from '../db/values.js';

/** A backfill_runs row, as the runner uses it (numbers already converted). */
export interface RunRow {
  run_id: number;
  status: string;
  phase: string;
  dry_run: boolean;
  record_undo: boolean;
  batches: number;
  batch_size: number | null;
  last_key: string | null;
  rows_total_est: number | null;
  rows_scanned: number;
  rows_filled: number;
  rows_unchanged: number;
  rows_rejected: number;
  rows_no_inventory: number;
  rows_deferred: number;
  elapsed_ms: number;
  last_batch_ms: number | null;
  started_at: string;
  updated_at: string;
  finished_at: string | null;
  last_error: string | null;
  undo_status: string | null;
  params: Record<string, unknown>;
  /** A dry run's first would-be changes (backfill_runs.sample). */
  sample: unknown[];
  /** The time left, as the backfill_progress view estimates it (null: unknown). */
  eta_seconds: number | null;
}

export function toRunRow(r: Record<string, unknown>): RunRow {
  return {
    run_id: countOf(r.run_id),
    status: String(r.status),
    phase: String(r.phase ?? ''),
    dry_run: Boolean(r.dry_run),
    record_undo: Boolean(r.record_undo),
    batches: countOf(r.batches),
    batch_size: numberOrNull(r.batch_size),
    last_key: (r.last_key as string | null) ?? null,
    // As backfill_progress shows it: the start estimate, raised to rows done when it was too low.
    rows_total_est: r.rows_total_est === null || r.rows_total_est === undefined ? null : Math.max(countOf(r.rows_total_est), countOf(r.rows_scanned)),
    rows_scanned: countOf(r.rows_scanned),
    rows_filled: countOf(r.rows_filled),
    rows_unchanged: countOf(r.rows_unchanged),
    rows_rejected: countOf(r.rows_rejected),
    rows_no_inventory: countOf(r.rows_no_inventory),
    rows_deferred: countOf(r.rows_deferred),
    elapsed_ms: countOf(r.elapsed_ms),
    last_batch_ms: numberOrNull(r.last_batch_ms),
    started_at: isoOrNull(r.started_at) ?? '',
    updated_at: isoOrNull(r.updated_at) ?? '',
    finished_at: isoOrNull(r.finished_at),
    last_error: (r.last_error as string | null) ?? null,
    undo_status: (r.undo_status as string | null) ?? null,
    params: (r.params as Record<string, unknown>) ?? {},
    sample: Array.isArray(r.sample) ? (r.sample as unknown[]) : [],
    eta_seconds: numberOrNull(r.eta_seconds),
  };
}

const RUN_COLUMNS = `run_id, status, phase, dry_run, record_undo, batches, batch_size, last_key, rows_total_est,
  rows_scanned, rows_filled, rows_unchanged, rows_rejected, rows_no_inventory, rows_deferred, elapsed_ms,
  last_batch_ms, started_at, updated_at, finished_at, last_error, undo_status, params, sample,
  (select extract(epoch from p.eta)::float8 from backfill_progress p where p.run_id = backfill_runs.run_id) as eta_seconds`;


/** The procedure's parameters, as named in its signature. */
export interface CallParams {
  batch_size?: number;
  max_batches?: number;
  dry_run?: boolean;
  pause_ms?: number;
  target_batch_ms?: number;
  restart?: boolean;
  record_undo?: boolean;
  quiet?: boolean;
  progress_every?: number;
  run_analyze?: boolean;
  sync_commit?: boolean;
  /** A new run looks at every reject again (incremental runs skip them otherwise). */
  recheck_rejects?: boolean;
  /** A new run looks at every open session again (forgets backfill_settled). */
  recheck_all?: boolean;
  /** Up to this many CALLs work the run together (each on its own connection). */
  workers?: number;
  throttle?: boolean;
  throttle_replica_lag_ms?: number;
  throttle_replica_lag_bytes?: number;
  throttle_wal_bytes_per_sec?: number;
  throttle_xmin_age_ms?: number;
  throttle_on_vacuum?: boolean;
  /** Resume exactly this run (INOUT parameter). */
  run_id?: number;
}

const PARAM_TYPES: Record<keyof CallParams, string> = {
  batch_size: 'integer',
  max_batches: 'integer',
  dry_run: 'boolean',
  pause_ms: 'integer',
  target_batch_ms: 'integer',
  restart: 'boolean',
  record_undo: 'boolean',
  quiet: 'boolean',
  progress_every: 'integer',
  run_analyze: 'boolean',
  sync_commit: 'boolean',
  recheck_rejects: 'boolean',
  recheck_all: 'boolean',
  workers: 'integer',
  throttle: 'boolean',
  throttle_replica_lag_ms: 'integer',
  throttle_replica_lag_bytes: 'bigint',
  throttle_wal_bytes_per_sec: 'bigint',
  throttle_xmin_age_ms: 'integer',
  throttle_on_vacuum: 'boolean',
  run_id: 'bigint',
};

/** The CALL statement (named arguments, explicit types) and its parameters. */
export function callStatement(params: CallParams): { text: string; values: (number | boolean)[] } {
  const names: string[] = [];
  const values: (number | boolean)[] = [];
  for (const key of Object.keys(PARAM_TYPES) as (keyof CallParams)[]) {
    const v = params[key];
    if (v === undefined) continue;
    values.push(v);
    names.push(`${key} => $${values.length}::${PARAM_TYPES[key]}`);
  }
  return { text: `CALL backfill_snapshots(${names.join(', ')})`, values };
}

/** The argument names of the installed procedure (empty when it is missing). */
export async function procedureArguments(sql: postgres.Sql): Promise<string[] | undefined> {
  const rows = await sql`
    select coalesce(p.proargnames, '{}') as names
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where p.proname = 'backfill_snapshots' and p.prokind = 'p' and n.nspname = any (current_schemas(false))
     order by p.pronargs desc limit 1`;
  if (rows.length === 0) return undefined;
  return (rows[0]!.names as string[]) ?? [];
}

/** Fails with a clear message when the SQL engine is not installed. */
export async function requireEngine(sql: postgres.Sql): Promise<string[]> {
  const args = await procedureArguments(sql);
  const [state] = await sql`select to_regclass('backfill_runs') is not null as ok`;
  if (!args || !state?.ok) {
    throw new CliError(
      'the backfill engine is not installed in this database (procedure backfill_snapshots / table backfill_runs missing): run `cowrie-db migrate` first',
      ExitCode.error,
    );
  }
  return args;
}

export async function getRun(sql: postgres.Sql, runId: number): Promise<RunRow | undefined> {
  const rows = await sql.unsafe(`select ${RUN_COLUMNS} from backfill_runs where run_id = $1`, [runId]);
  return rows[0] ? toRunRow(rows[0]) : undefined;
}

/** The run a CALL without run_id resumes (backfill_resumable_run decides), or undefined. */
export async function unfinishedRun(sql: postgres.Sql, dryRun: boolean): Promise<RunRow | undefined> {
  const rows = await sql.unsafe(`select ${RUN_COLUMNS} from backfill_runs where run_id = backfill_resumable_run($1)`, [dryRun]);
  return rows[0] ? toRunRow(rows[0]) : undefined;
}

/** The index statements still needed after a run (CREATE INDEX CONCURRENTLY ...), in order. */
export async function indexStatements(sql: postgres.Sql): Promise<{ index_name: string; reason: string; statement: string }[] | undefined> {
  const [has] = await sql`select to_regproc('snapshot_index_statements') is not null as ok`;
  if (!has?.ok) return undefined;
  const rows = await sql`select index_name, reason, statement from snapshot_index_statements() order by seq`;
  return rows.map((r) => ({ index_name: String(r.index_name), reason: String(r.reason), statement: String(r.statement) }));
}

/** Rejects of a run by reason. */
export async function rejectsByReason(sql: postgres.Sql, runId: number): Promise<Record<string, number>> {
  const rows = await sql`select reason, count(*)::bigint as n from backfill_rejects where run_id = ${runId} group by reason order by 2 desc`;
  return Object.fromEntries(rows.map((r) => [String(r.reason), countOf(r.n)]));
}

/** SQLSTATEs and client codes that mean "the connection is gone, try again later". */
export function isConnectionLoss(err: unknown): boolean {
  const e = err as { code?: string; errno?: string };
  const code = e?.code ?? '';
  return (
    [
      'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
      'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
    ].includes(code) ||
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin_shutdown
    code === '57P02' || // crash_shutdown
    code === '57P03' // cannot_connect_now (starting up / shutting down)
  );
}

export const QUERY_CANCELED = '57014';

// ---- status and rollback: which run resumes, whether a run can be undone ------------------
// Decided in SQL (sql/functions/backfill_resumable_run.sql, backfill_undo_state.sql); these
// only read the answers, for `cowrie-db status` and `cowrie-db rollback backfill`.

/** The run a CALL backfill_snapshots(dry_run => dryRun) without run_id resumes, or undefined. */
export async function resumableRunId(sql: postgres.Sql, dryRun: boolean): Promise<number | undefined> {
  const [row] = await sql`select backfill_resumable_run(${dryRun}) as id`;
  return row?.id === null || row?.id === undefined ? undefined : countOf(row.id);
}

/** backfill_undo_state(run_id): whether undo_backfill can undo the run now, and why not. */
export interface UndoState {
  run_id: number;
  can_undo: boolean;
  /** null, missing, busy, dry_run, no_undo_log, undone, nothing_changed */
  reason: string | null;
  /** The SQLSTATE undo_backfill refuses with; null when it would not refuse. */
  refused_sqlstate: string | null;
  message: string | null;
  hint: string | null;
}

export async function undoState(sql: postgres.Sql, runId: number): Promise<UndoState> {
  const [row] = await sql`select run_id, can_undo, reason, refused_sqlstate, message, hint from backfill_undo_state(${runId})`;
  if (!row) throw new Error(`backfill_undo_state(${runId}) returned no row`);
  return {
    run_id: countOf(row.run_id),
    can_undo: Boolean(row.can_undo),
    reason: (row.reason as string | null) ?? null,
    refused_sqlstate: (row.refused_sqlstate as string | null) ?? null,
    message: (row.message as string | null) ?? null,
    hint: (row.hint as string | null) ?? null,
  };
}

/** Whether the undo_backfill procedure is installed. */
export async function undoInstalled(sql: postgres.Sql): Promise<boolean> {
  const [row] = await sql`select to_regproc('undo_backfill') is not null and to_regproc('backfill_undo_state') is not null as ok`;
  return Boolean(row?.ok);
}

/** Whether the backfill_progress view (and what status reads beside it) is installed. */
export async function progressInstalled(sql: postgres.Sql): Promise<boolean> {
  const [row] = await sql`select to_regclass('backfill_progress') is not null and to_regproc('backfill_resumable_run') is not null
                                 and to_regproc('backfill_undo_state') is not null as ok`;
  return Boolean(row?.ok);
}

/**
 * backfill_progress rows, newest first (all, or only runId), with the view's ETA in seconds,
 * whether a plain CALL would resume the run (resumable) and its backfill_undo_state.
 */
export async function progressRows(sql: postgres.Sql, runId: number | undefined, limit: number): Promise<postgres.Row[]> {
  return sql`
    select p.*, extract(epoch from p.eta)::float8 as eta_s, extract(epoch from p.busy_time)::float8 as busy_s,
           coalesce((r.params->>'sync_commit')::boolean, false) as sync_commit,
           p.run_id is not distinct from backfill_resumable_run(p.dry_run) as resumable,
           u.can_undo, u.reason as undo_reason
      from backfill_progress p
      join backfill_runs r using (run_id)
      join backfill_undo_state(${runId ?? null}::bigint) u using (run_id)
     order by p.run_id desc
     limit ${limit}`;
}

/** The backend pid of a connection (to cancel what it runs). */
export async function backendPid(conn: postgres.Sql): Promise<number> {
  const [row] = await conn`select pg_backend_pid() as pid`;
  return Number(row?.pid);
}

export async function cancelBackend(sql: postgres.Sql, pid: number): Promise<void> {
  await sql`select pg_cancel_backend(${pid})`;
}

/** CALL undo_backfill alone on a dedicated connection (it commits after every batch). */
export async function callUndo(conn: postgres.Sql, runId: number, quiet: boolean, batchSize: number | undefined): Promise<void> {
  if (batchSize === undefined) await conn`CALL undo_backfill(run_id => ${runId}::bigint, quiet => ${quiet}::boolean)`;
  else await conn`CALL undo_backfill(run_id => ${runId}::bigint, quiet => ${quiet}::boolean, batch_size => ${batchSize}::integer)`;
}

/** The undo counters of a run after undo_backfill. */
export async function undoCounts(sql: postgres.Sql, runId: number): Promise<{ undo_status: string | null; restored: number; left_alone: number; missing: number }> {
  const [row] = await sql`select undo_status, undo_restored, undo_left_alone, undo_missing from backfill_runs where run_id = ${runId}`;
  return { undo_status: (row?.undo_status as string | null) ?? null, restored: countOf(row?.undo_restored), left_alone: countOf(row?.undo_left_alone), missing: countOf(row?.undo_missing) };
}

// ---- the call loop's guard -------------------------------------------------------------------

/**
 * Takes the runner-level advisory lock (backfill_advisory_lock_class(), key 2) on the
 * connection `guard` for its lifetime: false when another `cowrie-db backfill` holds it.
 */
export async function takeRunnerLock(guard: postgres.Sql): Promise<boolean> {
  const [got] = await guard`select pg_try_advisory_lock(backfill_advisory_lock_class(), 2) as ok`;
  return Boolean(got?.ok);
}

/** The run marked running (or undoing) with the backend it records, if any: for "already running". */
export async function runningRun(sql: postgres.Sql): Promise<{ run_id: number; dry_run: boolean; backend_pid: number | null } | undefined> {
  const [row] = await sql`
    select run_id, backend_pid, dry_run from backfill_runs
     where status = 'running' or undo_status = 'undoing'
     order by (backend_pid is not null) desc, updated_at desc limit 1`;
  if (!row) return undefined;
  return { run_id: countOf(row.run_id), dry_run: Boolean(row.dry_run), backend_pid: numberOrNull(row.backend_pid) };
}

// ---- cowrie-db monitor ---------------------------------------------------------------------

export async function monitorInstalled(sql: postgres.Sql): Promise<boolean> {
  const [has] = await sql`select to_regprocedure('backfill_monitor(numeric,numeric,interval,interval,interval,timestamptz,boolean)') is not null as ok`;
  return Boolean(has?.ok);
}

export interface MonitorArgs {
  warningPct: number;
  criticalPct: number;
  pendingWarningS: number;
  pendingCriticalS: number;
  /** 0: no run-age warning. */
  runWarningS: number;
  since: string | null;
  record: boolean;
}

/** backfill_monitor(...): the state and figures, decided in SQL. */
export async function monitorRow(sql: postgres.Sql, a: MonitorArgs): Promise<postgres.Row> {
  const [row] = await sql`
    select * from backfill_monitor(
      warning_pct => ${a.warningPct}::numeric, critical_pct => ${a.criticalPct}::numeric,
      pending_warning => make_interval(secs => ${a.pendingWarningS}::float8),
      pending_critical => make_interval(secs => ${a.pendingCriticalS}::float8),
      run_warning => case when ${a.runWarningS}::float8 > 0 then make_interval(secs => ${a.runWarningS}::float8) end,
      since => ${a.since}::timestamptz,
      record_check => ${a.record}::boolean)`;
  if (!row) throw new Error('backfill_monitor() returned no row');
  return row;
}
