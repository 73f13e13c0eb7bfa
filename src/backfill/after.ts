// After a completed real run: build the snapshot indexes that are still missing
// (or invalid), CONCURRENTLY so that reads and writes go on. The statements come
// from the SQL side (snapshot_index_statements()); CREATE INDEX CONCURRENTLY cannot
// run in a transaction or a procedure, so the runner sends each one alone on its
// own autocommit connection, then VACUUM. ANALYZE is done by backfill_snapshots
// itself (run_analyze => true, its default) when the run completes.
import type { Database } from '../db/connect.js';
import { log } from '../log.js';
import { indexStatements } from './engine.js';

export interface AfterReport {
  indexes: { name: string; reason: string; statement: string; ms: number }[];
  /** ms spent in VACUUM (sets the visibility map so the snapshot queries run index-only). */
  vacuumMs?: number;
  /** Statements the runner did not run (--no-indexes), for the DBA. */
  skipped: string[];
}

export async function afterCompletion(
  db: Database,
  options: { indexes: boolean; say: (line: string) => void; lockTimeoutMs: number },
): Promise<AfterReport> {
  const report: AfterReport = { indexes: [], skipped: [] };
  const steps = (await indexStatements(db.sql)) ?? [];
  if (!options.indexes) {
    report.skipped = steps.map((s) => s.statement);
    return report;
  }
  const conn = db.connect({
    max: 1,
    settings: { statement_timeout: '0', lock_timeout: `${options.lockTimeoutMs}ms` },
    onnotice: (n) => log.verbose(`NOTICE: ${n.message}`),
  });
  try {
    for (const step of steps) {
      options.say(`index ${step.index_name}: ${step.reason}: ${step.statement} (writes go on)`);
      const t0 = Date.now();
      await conn.unsafe(step.statement).simple();
      report.indexes.push({ name: step.index_name, reason: step.reason, statement: step.statement, ms: Date.now() - t0 });
    }
    // Every filled row left a dead version behind: VACUUM (not a blocking VACUUM FULL)
    // reclaims them and marks pages all-visible, which index-only scans need.
    options.say('VACUUM session_summaries (reclaims the old row versions; reads and writes go on)');
    const t0 = Date.now();
    await conn.unsafe('VACUUM session_summaries').simple();
    report.vacuumMs = Date.now() - t0;
  } finally {
    await conn.end({ timeout: 5 });
  }
  return report;
}
