// The bounds backfill_snapshots (sql/functions/backfill_snapshots.sql) puts on its
// parameters, so that flags outside them are refused before any CALL. A test
// (test/backfill-bounds.test.ts) compares these with the installed procedure.

/** workers lies in 1..64. */
export const WORKERS_MAX = 64;

/** pause_ms lies in 0..3,600,000. */
export const PAUSE_MS_MAX = 3_600_000;

/** target_batch_ms lies in 1..600,000. */
export const TARGET_BATCH_MS_MIN = 1;
export const TARGET_BATCH_MS_MAX = 600_000;

/** batch_size, and min_batch_size <= max_batch_size, lie in 1..1,000,000. */
export const BATCH_SIZE_MAX = 1_000_000;

/** The defaults of min_batch_size / max_batch_size: with target_batch_ms, batch_size must lie between them. */
export const ADAPTIVE_BATCH_MIN = 100;
export const ADAPTIVE_BATCH_MAX = 50_000;

/** The batch size an adaptive run (target_batch_ms) may start from: `size` brought into the procedure's range. */
export function adaptiveStart(size: number): number {
  return Math.min(ADAPTIVE_BATCH_MAX, Math.max(ADAPTIVE_BATCH_MIN, size));
}
