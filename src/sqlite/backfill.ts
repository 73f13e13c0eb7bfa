// backfillSqlite: the snapshot backfill on a SQLite file, with the semantics of the
// PostgreSQL procedure backfill_snapshots (docs/sqlite.md says what differs): keyset
// batches on session_id, one transaction per batch with its checkpoint in backfill_runs,
// resume of the unfinished run by default, fill only NULL, rejects with the PostgreSQL
// reasons in backfill_rejects, dry run, max batches. The rule is BATCH_SQL (sql.ts);
// this file runs the batches and counts the outcomes. Options are validated by the CLI.
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, ExitCode } from '../errors.js';
import { checkSchema, ensureSchema, openSqlite, type SqliteDb } from './open.js';
import { BATCH_SQL, CHECKPOINT_SQL, INSERT_REJECT_SQL, RUN_SQL, UPDATE_SQL } from './sql.js';

const SNAPSHOT_COLUMNS = ['source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at'] as const;
type SnapshotColumn = (typeof SNAPSHOT_COLUMNS)[number];

/** The reject reasons, as in PostgreSQL (backfill_snapshot_source and the row-error isolation). */
export const REJECT_REASONS = ['no_enrichment', 'no_source_ip', 'bad_ip', 'bad_asn', 'bad_country', 'bad_enriched_at', 'row_error'] as const;
type RejectReason = (typeof REJECT_REASONS)[number];

export interface SqliteBackfillOptions {
  /** Sessions per batch (one transaction each). Default 5000. */
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
  /** Called after every committed batch, with this call's batches and counts so far. */
  onBatch?: (batches: number, rows: RowCounts) => void;
}

export interface RowCounts {
  /** Sessions read (had at least one NULL snapshot column). */
  scanned: number;
  /** Sessions where at least one column was (dry run: would be) filled. */
  filled: number;
  /** Sessions with nothing to fill (no source has a value for any NULL column). */
  unchanged: number;
  /** Sessions rejected (see rejects by reason); never written. */
  rejected: number;
  /** Not rejected, but the IP has no ip_inventory row: source_ip stays NULL (overlaps filled/unchanged). */
  noInventory: number;
  /** Sessions whose enrichment names several IPs under "session" (the first is used; any outcome). */
  multiIp: number;
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
  /** This call's batches, sessions by outcome, filled values by column and source, and rejects by reason. */
  batches: number;
  rows: RowCounts;
  sources: {
    snapshot_asn: { json: number; history: number; inventory: number };
    snapshot_country: { json: number; inventory: number; default: number };
    snapshot_ip_type: { json: number; inventory: number };
    /** session: the row's created_at (a value came from its own capture, which has no enriched_at). */
    enrichment_at: { json: number; session: number; inventory: number };
  };
  rejects: Partial<Record<RejectReason, number>>;
  lastKey: string | null;
  elapsedMs: number;
}

type BatchRow = Record<SnapshotColumn | `new_${SnapshotColumn}`, string | number | null> & {
  session_id: string;
  in_inventory: number;
  ip_keys: number | null;
  asn_source: 'json' | 'history' | 'inventory' | null;
  country_source: 'json' | 'inventory' | 'default';
  ip_type_source: 'json' | 'inventory' | null;
  enrichment_at_source: 'json' | 'session' | 'inventory' | null;
  reject_reason: RejectReason | null;
  reject_detail: string | null;
};

interface RunRow {
  run_id: number;
  status: string;
  last_key: string | null;
  batches: number;
}

const SOURCE_OF = { snapshot_asn: 'asn_source', snapshot_country: 'country_source', snapshot_ip_type: 'ip_type_source', enrichment_at: 'enrichment_at_source' } as const;

/**
 * Runs (or resumes) the snapshot backfill on the SQLite file `path`. Throws CliError:
 * exit 3 when the file is missing or not SQLite, exit 2 when it lacks the v16 columns.
 */
export async function backfillSqlite(path: string, options: SqliteBackfillOptions = {}): Promise<SqliteBackfillSummary> {
  const t0 = performance.now();
  const batchSize = options.batchSize ?? 5000;
  const dryRun = options.dryRun ?? false;
  const db = openSqlite(path, { readonly: dryRun });
  try {
    checkSchema(db, path);
    if (!dryRun) ensureSchema(db); // the state tables, when a file predates them
    const run = dryRun ? null : startOrResume(db, batchSize, options.restart ?? false);
    const rows: RowCounts = { scanned: 0, filled: 0, unchanged: 0, rejected: 0, noInventory: 0, multiIp: 0 };
    const summary: SqliteBackfillSummary = {
      engine: 'sqlite', path, runId: run?.run_id ?? null, dryRun, resumed: run !== null && (run.batches > 0 || run.last_key !== null),
      status: 'paused', stoppedBy: 'done', batchSize, batches: 0, rows,
      sources: {
        snapshot_asn: { json: 0, history: 0, inventory: 0 }, snapshot_country: { json: 0, inventory: 0, default: 0 },
        snapshot_ip_type: { json: 0, inventory: 0 }, enrichment_at: { json: 0, session: 0, inventory: 0 },
      },
      rejects: {}, lastKey: run?.last_key ?? null, elapsedMs: 0,
    };
    const select = db.prepare(BATCH_SQL);
    // the writes exist only in a real run (a dry run's file may have no state tables)
    const [update, reject, checkpoint, readRun] = run ? [UPDATE_SQL, INSERT_REJECT_SQL, CHECKPOINT_SQL, RUN_SQL].map((q) => db.prepare(q)) : [];

    /** One batch; in a real run inside BEGIN IMMEDIATE, together with its checkpoint. Returns the sessions read. */
    const batch = (): number => {
      const bt0 = performance.now();
      // A real run reads its checkpoint inside the write transaction: the database, not this process, says where it is.
      const current = run ? (readRun!.get(run.run_id) as RunRow) : null;
      if (current?.status === 'abandoned') {
        throw new CliError(`run ${current.run_id} was abandoned by a --restart from another process; nothing more was done`, ExitCode.error);
      }
      const after = current ? current.last_key : summary.lastKey;
      const found = select.all({ from_key: after ?? '', after_key: after, batch_size: batchSize }) as BatchRow[];
      const b: RowCounts = { scanned: found.length, filled: 0, unchanged: 0, rejected: 0, noInventory: 0, multiIp: 0 };
      const atSession = summary.sources.enrichment_at.session;
      for (const r of found) {
        if ((r.ip_keys ?? 0) > 1) b.multiIp++;
        let reason = r.reject_reason;
        let detail = r.reject_detail;
        const fills = reason ? [] : SNAPSHOT_COLUMNS.filter((c) => r[c] === null && r[`new_${c}`] !== null);
        if (fills.length > 0 && update) {
          try {
            update.run({ session_id: r.session_id, ...Object.fromEntries(SNAPSHOT_COLUMNS.map((c) => [c, r[`new_${c}`]])) });
          } catch (err) {
            // As PostgreSQL isolates a row: a constraint or data error is a 'row_error' reject; anything else stops the run.
            const code = (err as { code?: string }).code ?? '';
            if (!/^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code)) throw err;
            [reason, detail] = ['row_error', `${code}: ${(err as Error).message}`.slice(0, 500)];
          }
        }
        if (reason) {
          b.rejected++;
          summary.rejects[reason] = (summary.rejects[reason] ?? 0) + 1;
          if (run) reject!.run({ run_id: run.run_id, session_id: r.session_id, reason, detail });
          continue;
        }
        if (!r.in_inventory) b.noInventory++;
        if (fills.length === 0) b.unchanged++;
        else b.filled++;
        for (const c of fills) {
          if (c === 'source_ip') continue;
          const counts = summary.sources[c] as Record<string, number>;
          const source = r[SOURCE_OF[c]];
          if (source) counts[source]!++;
        }
      }
      summary.lastKey = found.length > 0 ? found[found.length - 1]!.session_id : after; // the checkpoint never moves back
      const status = found.length < batchSize ? 'completed' : 'running';
      if (run) {
        checkpoint!.run({ run_id: run.run_id, last_key: summary.lastKey, batches: found.length > 0 ? 1 : 0, ...b,
          atSession: summary.sources.enrichment_at.session - atSession, ms: performance.now() - bt0, status });
      }
      for (const k of Object.keys(b) as (keyof RowCounts)[]) rows[k] += b[k];
      return found.length;
    };
    const realBatch = db.transaction(batch);

    for (;;) {
      const n = dryRun ? batch() : realBatch.immediate();
      if (n > 0) {
        summary.batches++;
        options.onBatch?.(summary.batches, { ...rows });
      }
      if (n < batchSize) {
        summary.status = 'completed';
        break;
      }
      if (options.maxBatches !== undefined && summary.batches >= options.maxBatches) {
        summary.stoppedBy = 'max_batches';
        break;
      }
      // Let signals and timers run between batches (better-sqlite3 is synchronous).
      if (options.pauseMs) await sleep(options.pauseMs, undefined, { signal: options.signal }).catch(() => undefined);
      else await new Promise((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) {
        summary.stoppedBy = 'signal';
        break;
      }
    }
    if (run && summary.status !== 'completed') db.prepare(`UPDATE backfill_runs SET status = 'paused' WHERE run_id = ? AND status = 'running'`).run(run.run_id);
    summary.elapsedMs = Math.round(performance.now() - t0);
    return summary;
  } finally {
    db.close();
  }
}

/** The latest unfinished run (resumed) or a new one; in one write transaction so that two callers agree. */
function startOrResume(db: SqliteDb, batchSize: number, restart: boolean): RunRow {
  return db.transaction(() => {
    const open = db.prepare(`SELECT * FROM backfill_runs WHERE status IN ('running', 'paused') ORDER BY run_id DESC LIMIT 1`).get() as RunRow | undefined;
    if (open && !restart) {
      db.prepare(`UPDATE backfill_runs SET status = 'running', batch_size = ? WHERE run_id = ?`).run(batchSize, open.run_id);
      return open;
    }
    if (open) db.prepare(`UPDATE backfill_runs SET status = 'abandoned', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE run_id = ?`).run(open.run_id);
    const id = db.prepare(`INSERT INTO backfill_runs (batch_size) VALUES (?)`).run(batchSize).lastInsertRowid;
    return db.prepare(RUN_SQL).get(id) as RunRow;
  }).immediate();
}
