// Shared by the incremental-run and pg_cron tests: new sessions as an application adds them.
import type postgres from 'postgres';

/**
 * New sessions as the upstream loader writes them for IPs not yet enriched: snapshot
 * columns NULL; created_at fixed (the rule can write it as enrichment_at), so that two
 * databases given the same copies hold the same rows.
 */
export async function insertCopies(sql: postgres.Sql, prefix: string, n: number, offset = 0, createdAt = '2026-06-01T00:00:00Z'): Promise<string[]> {
  const rows = await sql.unsafe(
    `insert into session_summaries (session_id, first_event_at, last_event_at, event_count, enrichment, source_files, created_at, updated_at)
     select '${prefix}' || s.session_id, s.first_event_at, s.last_event_at, 1, s.enrichment, s.source_files,
            '${createdAt}'::timestamptz, '${createdAt}'::timestamptz
       from session_summaries s where s.session_id not like 'n%' order by s.session_id offset ${offset} limit ${n}
     returning session_id`);
  return rows.map((r) => String(r.session_id));
}

