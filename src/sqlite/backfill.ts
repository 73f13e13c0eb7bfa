// backfillSqlite: the ADR-007 snapshot backfill on a SQLite file, with the semantics
// of the PostgreSQL procedure backfill_snapshots (docs/sqlite.md says what differs):
// keyset batches on session_id, one transaction per batch with its checkpoint in
// backfill_runs, resume of the unfinished run by default, fill-only-NULL, rejects with
// the PostgreSQL reasons in backfill_rejects, dry run, max batches. The snapshot rule
// itself is SQL (sql.ts, batchSql); this file runs the batches and counts outcomes.
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, ExitCode } from '../errors.js';
import { checkSchema, ensureSchema, openSqlite, type SqliteDb } from './open.js';
import { CHECKPOINT_SQL, INSERT_REJECT_SQL, RUN_SQL, UNFINISHED_RUN_SQL, UPDATE_SQL, batchSql } from './sql.js';

export const SNAPSHOT_COLUMNS = ['source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at'] as const;
export type SnapshotColumn = (typeof SNAPSHOT_COLUMNS)[number];

/** The reject reasons, as in PostgreSQL (backfill_snapshot_source and the row-error isolation). */
export const REJECT_REASONS = ['no_enrichment', 'no_source_ip', 'bad_ip', 'bad_asn', 'bad_country', 'bad_enriched_at', 'row_error'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface SqliteBackfillOptions {
  /** Sessions per batch (one transaction each), 1..1,000,000. Default 5000. */
  batchSize?: number;
  /** Stop after this many batches in this call; the run is left 'paused' and resumes next time. */
  maxBatches?: number;
  /** Compute what a real run would change; opens the file read-only and writes nothing at all. */
  dryRun?: boolean;
  /** Abandon the unfinished run (status 'abandoned') and start a new one from the first session. */
  restart?: boolean;
  /** Sleep between batches (ms). */
  pauseMs?: number;
  /** Checked between batches: the batch in flight always commits, then the run is left 'paused'. */
  signal?: AbortSignal;
  /** Called after every committed batch (progress bars, status files). */
  onBatch?: (progress: SqliteBatchProgress) => void;
}

export interface RowCounts {
  /** Sessions read (had at least one NULL snapshot column). */
  scanned: number;
  /** Sessions where at least one column was (dry run: would be) filled. */
  filled: number;
  /** Sessions with nothing to fill (every NULL column has no value from any source). */
  unchanged: number;
  /** Sessions rejected (see rejects by reason); never written. */
  rejected: number;
  /** Not rejected, but the IP has no ip_inventory row: source_ip stays NULL (counted apart, overlaps filled/unchanged). */
  noInventory: number;
  /** Sessions whose enrichment names several IPs under "session" (the first is used; counted apart, any outcome). */
  multiIp: number;
}

export interface SampleChange {
  session_id: string;
  old: Record<SnapshotColumn, string | number | null>;
  new: Record<SnapshotColumn, string | number | null>;
  sources: { asn: string | null; country: string | null; ip_type: string | null; enrichment_at: string | null; in_inventory: boolean };
}

export interface SqliteBatchProgress {
  runId: number | null;
  /** Batches committed in this call. */
  batches: number;
  /** Batches of the run, all calls. */
  runBatches: number;
  lastKey: string | null;
  batchMs: number;
  /** This call's counts so far. */
  rows: RowCounts;
  /** Sessions that had a NULL snapshot column after the checkpoint when this call started. */
  candidatesAtStart: number;
}

export interface SqliteBackfillSummary {
  engine: 'sqlite';
  path: string;
  /** backfill_runs.run_id; null for a dry run (it stores nothing). */
  runId: number | null;
  dryRun: boolean;
  /** This call continued an unfinished run from its checkpoint. */
  resumed: boolean;
  /** 'completed': nothing left after the checkpoint; 'paused': stopped early, the next call resumes. */
  status: 'completed' | 'paused';
  stoppedBy: 'done' | 'max_batches' | 'signal';
  batchSize: number;
  /** Batches committed in this call. */
  batches: number;
  /** This call's sessions by outcome. */
  rows: RowCounts;
  /** This call's filled values per column. */
  filled: Record<SnapshotColumn, number>;
  /** Where this call's filled values came from. */
  sources: {
    snapshot_asn: { json: number; history: number; inventory: number };
    snapshot_country: { json: number; inventory: number; default: number };
    snapshot_ip_type: { json: number; inventory: number };
    /** session: the session row's created_at (the values came from its own capture, which has no enriched_at). */
    enrichment_at: { json: number; session: number; inventory: number };
  };
  /** This call's rejects by reason (details in backfill_rejects for a real run). */
  rejects: Partial<Record<RejectReason, number>>;
  /** The whole run (every call), from backfill_runs; a dry run: this call. */
  run: { batches: number; rows: RowCounts; enrichmentAtFromSession: number; startedAt: string | null };
  candidatesAtStart: number;
  lastKey: string | null;
  /** Dry run: up to 20 would-be changes. Real run: empty. */
  sample: SampleChange[];
  elapsedMs: number;
}

interface BatchRow {
  session_id: string;
  source_ip: string | null;
  snapshot_asn: number | null;
  snapshot_country: string | null;
  snapshot_ip_type: string | null;
  enrichment_at: string | null;
  in_inventory: number;
  new_source_ip: string | null;
  new_snapshot_asn: number | null;
  asn_source: 'json' | 'history' | 'inventory' | null;
  new_snapshot_country: string | null;
  country_source: 'json' | 'inventory' | 'default';
  new_snapshot_ip_type: string | null;
  ip_type_source: 'json' | 'inventory' | null;
  new_enrichment_at: string | null;
  enrichment_at_source: 'json' | 'session' | 'inventory' | null;
  reject_reason: RejectReason | null;
  reject_detail: string | null;
  ip_keys: number | null;
}

interface RunRow {
  run_id: number;
  status: string;
  batch_size: number;
  last_key: string | null;
  batches: number;
  rows_scanned: number;
  rows_filled: number;
  rows_unchanged: number;
  rows_rejected: number;
  rows_no_inventory: number;
  rows_multi_ip: number;
  enrichment_at_from_session: number;
  elapsed_ms: number;
  started_at: string;
}

const zeroRows = (): RowCounts => ({ scanned: 0, filled: 0, unchanged: 0, rejected: 0, noInventory: 0, multiIp: 0 });

function validate(options: SqliteBackfillOptions): { batchSize: number; maxBatches: number | null; pauseMs: number } {
  const batchSize = options.batchSize ?? 5000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1_000_000) {
    throw new CliError(`--batch-size: must be an integer from 1 to 1000000 (got ${String(options.batchSize)})`, ExitCode.usage);
  }
  const maxBatches = options.maxBatches ?? null;
  if (maxBatches !== null && (!Number.isInteger(maxBatches) || maxBatches < 1)) {
    throw new CliError(`--max-batches: must be a positive integer (got ${String(options.maxBatches)})`, ExitCode.usage);
  }
  const pauseMs = options.pauseMs ?? 0;
  if (!Number.isInteger(pauseMs) || pauseMs < 0 || pauseMs > 3_600_000) {
    throw new CliError(`--pause-ms: must be an integer from 0 to 3600000 (got ${String(options.pauseMs)})`, ExitCode.usage);
  }
  return { batchSize, maxBatches, pauseMs };
}

const CANDIDATES_SQL = `
SELECT count(*) AS n FROM session_summaries
WHERE (:after_key IS NULL OR session_id > :after_key)
  AND (source_ip IS NULL OR snapshot_asn IS NULL OR snapshot_country IS NULL
       OR snapshot_ip_type IS NULL OR enrichment_at IS NULL)`;

/**
 * Runs (or resumes) the snapshot backfill on the SQLite file `path`.
 * Throws CliError: exit 3 when the file is missing or not SQLite, exit 2 when it
 * lacks the v16 tables/columns, exit 64 for invalid options.
 */
export async function backfillSqlite(path: string, options: SqliteBackfillOptions = {}): Promise<SqliteBackfillSummary> {
  const t0 = performance.now();
  const { batchSize, maxBatches, pauseMs } = validate(options);
  const dryRun = options.dryRun ?? false;
  const db = openSqlite(path, { readonly: dryRun });
  try {
    checkSchema(db, path);
    if (!dryRun) ensureSchema(db); // the state tables, when a file predates them

    const summary: SqliteBackfillSummary = {
      engine: 'sqlite', path, runId: null, dryRun, resumed: false, status: 'paused', stoppedBy: 'done', batchSize,
      batches: 0, rows: zeroRows(),
      filled: { source_ip: 0, snapshot_asn: 0, snapshot_country: 0, snapshot_ip_type: 0, enrichment_at: 0 },
      sources: {
        snapshot_asn: { json: 0, history: 0, inventory: 0 },
        snapshot_country: { json: 0, inventory: 0, default: 0 },
        snapshot_ip_type: { json: 0, inventory: 0 },
        enrichment_at: { json: 0, session: 0, inventory: 0 },
      },
      rejects: {}, run: { batches: 0, rows: zeroRows(), enrichmentAtFromSession: 0, startedAt: null }, candidatesAtStart: 0,
      lastKey: null, sample: [], elapsedMs: 0,
    };

    let lastKey: string | null = null;
    let runBatchesBefore = 0;
    if (!dryRun) {
      const run = startOrResume(db, batchSize, options.restart ?? false);
      summary.runId = run.run_id;
      summary.resumed = run.batches > 0 || run.last_key !== null;
      lastKey = run.last_key;
      runBatchesBefore = run.batches;
    }
    summary.candidatesAtStart = (db.prepare(CANDIDATES_SQL).get({ after_key: lastKey }) as { n: number }).n;

    const first = db.prepare(batchSql(false));
    const after = db.prepare(batchSql(true));
    const update = dryRun ? null : db.prepare(UPDATE_SQL);
    const reject = dryRun ? null : db.prepare(INSERT_REJECT_SQL);
    const checkpoint = dryRun ? null : db.prepare(CHECKPOINT_SQL);
    const readRun = dryRun ? null : db.prepare(RUN_SQL);

    /** One batch; in a real run inside BEGIN IMMEDIATE, together with its checkpoint. */
    const batch = (): { done: boolean; n: number; key: string | null } => {
      const bt0 = performance.now();
      // A real run reads its checkpoint inside the write transaction: the database,
      // not this process, says where the run is.
      const current = readRun ? (readRun.get(summary.runId) as RunRow) : null;
      if (current?.status === 'abandoned') {
        throw new CliError(`run ${summary.runId} was abandoned by a --restart from another process; nothing more was done`, ExitCode.error);
      }
      const key = current ? current.last_key : lastKey;
      const rows = (key === null ? first.all({ batch_size: batchSize }) : after.all({ after_key: key, batch_size: batchSize })) as BatchRow[];
      const b = zeroRows();
      const atSession = summary.sources.enrichment_at.session;
      for (const r of rows) {
        b.scanned++;
        if ((r.ip_keys ?? 0) > 1) b.multiIp++;
        let reason = r.reject_reason;
        let detail = r.reject_detail;
        const fills = reason ? [] : SNAPSHOT_COLUMNS.filter((c) => r[c] === null && newValue(r, c) !== null);
        if (!reason && fills.length > 0 && update) {
          try {
            update.run({
              session_id: r.session_id, source_ip: r.new_source_ip, snapshot_asn: r.new_snapshot_asn,
              snapshot_country: r.new_snapshot_country, snapshot_ip_type: r.new_snapshot_ip_type, enrichment_at: r.new_enrichment_at,
            });
          } catch (err) {
            // Like PostgreSQL's row isolation: a constraint/data error on one row is a
            // 'row_error' reject, the batch goes on. Anything else stops the run.
            const code = (err as { code?: string }).code ?? '';
            if (!/^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code)) throw err;
            reason = 'row_error';
            detail = `${code}: ${(err as Error).message}`.slice(0, 500);
          }
        }
        if (reason) {
          b.rejected++;
          summary.rejects[reason] = (summary.rejects[reason] ?? 0) + 1;
          reject?.run({ run_id: summary.runId, session_id: r.session_id, reason, detail });
          continue;
        }
        if (!r.in_inventory) b.noInventory++;
        if (fills.length === 0) {
          b.unchanged++;
          continue;
        }
        b.filled++;
        for (const c of fills) summary.filled[c]++;
        countSources(summary, r, fills);
        if (dryRun && summary.sample.length < 20) summary.sample.push(sampleOf(r));
      }
      const newKey = rows.length > 0 ? rows[rows.length - 1]!.session_id : key;
      const done = rows.length < batchSize;
      const ms = performance.now() - bt0;
      checkpoint?.run({
        run_id: summary.runId, last_key: newKey, batches: rows.length > 0 ? 1 : 0, scanned: b.scanned, filled: b.filled,
        unchanged: b.unchanged, rejected: b.rejected, no_inventory: b.noInventory, multi_ip: b.multiIp,
        at_session: summary.sources.enrichment_at.session - atSession, ms, status: done ? 'completed' : 'running',
      });
      for (const k of Object.keys(b) as (keyof RowCounts)[]) summary.rows[k] += b[k];
      return { done, n: rows.length, key: newKey };
    };
    const realBatch = db.transaction(batch);

    for (;;) {
      const bt0 = performance.now();
      const { done, n, key } = dryRun ? batch() : realBatch.immediate();
      lastKey = key;
      if (n > 0) summary.batches++;
      if (n > 0) {
        options.onBatch?.({
          runId: summary.runId, batches: summary.batches, runBatches: runBatchesBefore + summary.batches, lastKey,
          batchMs: performance.now() - bt0, rows: { ...summary.rows }, candidatesAtStart: summary.candidatesAtStart,
        });
      }
      if (done) {
        summary.status = 'completed';
        summary.stoppedBy = 'done';
        break;
      }
      if (maxBatches !== null && summary.batches >= maxBatches) {
        summary.stoppedBy = 'max_batches';
        break;
      }
      // Let signals and timers run between batches (better-sqlite3 is synchronous).
      if (pauseMs > 0) await sleep(pauseMs, undefined, { signal: options.signal }).catch(() => undefined);
      else await new Promise((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) {
        summary.stoppedBy = 'signal';
        break;
      }
    }
    summary.lastKey = lastKey;

    if (!dryRun) {
      if (summary.status !== 'completed') db.prepare(`UPDATE backfill_runs SET status = 'paused' WHERE run_id = ? AND status = 'running'`).run(summary.runId);
      const run = db.prepare(RUN_SQL).get(summary.runId) as RunRow;
      summary.run = {
        batches: run.batches,
        startedAt: run.started_at,
        rows: { scanned: run.rows_scanned, filled: run.rows_filled, unchanged: run.rows_unchanged, rejected: run.rows_rejected,
          noInventory: run.rows_no_inventory, multiIp: run.rows_multi_ip },
        enrichmentAtFromSession: run.enrichment_at_from_session,
      };
    } else {
      summary.run = { batches: summary.batches, rows: { ...summary.rows }, enrichmentAtFromSession: summary.sources.enrichment_at.session, startedAt: null };
    }
    summary.elapsedMs = Math.round(performance.now() - t0);
    return summary;
  } finally {
    db.close();
  }
}

/** The latest unfinished run (resumed) or a new one; in one write transaction so that two callers agree. */
function startOrResume(db: SqliteDb, batchSize: number, restart: boolean): RunRow {
  return db.transaction(() => {
    const open = db.prepare(UNFINISHED_RUN_SQL).get() as RunRow | undefined;
    if (open && !restart) {
      db.prepare(`UPDATE backfill_runs SET status = 'running', batch_size = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE run_id = ?`).run(batchSize, open.run_id);
      return open;
    }
    if (open) db.prepare(`UPDATE backfill_runs SET status = 'abandoned', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE run_id = ?`).run(open.run_id);
    const id = Number(db.prepare(`INSERT INTO backfill_runs (batch_size) VALUES (?)`).run(batchSize).lastInsertRowid);
    return db.prepare(RUN_SQL).get(id) as RunRow;
  }).immediate();
}

const newValue = (r: BatchRow, c: SnapshotColumn): string | number | null => r[`new_${c}`];

function countSources(s: SqliteBackfillSummary, r: BatchRow, fills: SnapshotColumn[]): void {
  for (const c of fills) {
    if (c === 'snapshot_asn' && r.asn_source) s.sources.snapshot_asn[r.asn_source]++;
    if (c === 'snapshot_country') s.sources.snapshot_country[r.country_source]++;
    if (c === 'snapshot_ip_type' && r.ip_type_source) s.sources.snapshot_ip_type[r.ip_type_source]++;
    if (c === 'enrichment_at' && r.enrichment_at_source) s.sources.enrichment_at[r.enrichment_at_source]++;
  }
}

function sampleOf(r: BatchRow): SampleChange {
  const old = {} as SampleChange['old'];
  const next = {} as SampleChange['new'];
  for (const c of SNAPSHOT_COLUMNS) {
    old[c] = r[c];
    next[c] = r[c] ?? newValue(r, c);
  }
  return {
    session_id: r.session_id, old, new: next,
    sources: { asn: r.asn_source, country: r.country_source, ip_type: r.ip_type_source, enrichment_at: r.enrichment_at_source, in_inventory: Boolean(r.in_inventory) },
  };
}
