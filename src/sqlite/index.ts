// The SQLite path of cowrie-db (--db sqlite:<file>): a small, dependency-light
// version of the backfill for development installs, with the same snapshot
// semantics as the PostgreSQL engine. docs/sqlite.md documents this API.
//   createSqliteSchema(path)            the v16 tables + backfill state tables
//   seedSqlite(path, sessions, seed)    deterministic synthetic data with dirty cases
//   backfillSqlite(path, options)       the batched, resumable backfill
//   sqliteUnsupported(feature, path)    the exit-64 error for PostgreSQL-only features
import { ensureSchema, openSqlite } from './open.js';

export { backfillSqlite, REJECT_REASONS, SNAPSHOT_COLUMNS } from './backfill.js';
export type { RejectReason, RowCounts, SampleChange, SnapshotColumn, SqliteBackfillOptions, SqliteBackfillSummary, SqliteBatchProgress } from './backfill.js';
export { DIRTY_CASES, MAX_SQLITE_SEED_SESSIONS, seedSqlite } from './seed.js';
export type { SqliteSeedOptions, SqliteSeedSummary } from './seed.js';
export { sqliteUnsupported } from './open.js';

/** Creates `path` if needed, with the upstream v16 tables and the backfill state tables (idempotent). */
export function createSqliteSchema(path: string): void {
  const db = openSqlite(path, { create: true });
  try {
    ensureSchema(db);
  } finally {
    db.close();
  }
}
