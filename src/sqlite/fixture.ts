// The data of a SQLite development install: the shared fixture of the snapshot rule
// (sql/fixtures/snapshot-rule.json, the rows the parity test loads into both engines),
// written into a SQLite file by `cowrie-db seed --db sqlite:<file>`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../db/sqlfiles.js';
import { CliError, ExitCode } from '../errors.js';
import { openSqlite } from './open.js';

const FIXTURE_FILE = join(packageRoot, 'sql', 'fixtures', 'snapshot-rule.json');

/** The fixture's sessions (the test checks the file against it). */
export const SQLITE_FIXTURE_SESSIONS = 603;

export type FixtureTable = 'asn_inventory' | 'ip_inventory' | 'ip_asn_history' | 'session_summaries';

/** One statement per table, reading the fixture's rows (a JSON array) with json_each. */
const INSERTS: Record<FixtureTable, string> = {
  asn_inventory: `INSERT INTO asn_inventory (asn_number, organization_name, organization_country, rir_registry, asn_type, first_seen, last_seen)
    SELECT value ->> 'asn_number', value ->> 'organization_name', value ->> 'organization_country', value ->> 'rir_registry',
           value ->> 'asn_type', value ->> 'first_seen', value ->> 'last_seen' FROM json_each(?)`,
  ip_inventory: `INSERT INTO ip_inventory (ip_address, current_asn, first_seen, last_seen, session_count, enrichment, enrichment_updated_at, ip_types)
    SELECT value ->> 'ip_address', value ->> 'current_asn', value ->> 'first_seen', value ->> 'last_seen', value ->> 'session_count',
           value ->> 'enrichment', value ->> 'enrichment_updated_at', value ->> 'ip_types' FROM json_each(?)`,
  ip_asn_history: `INSERT INTO ip_asn_history (ip_address, asn_number, observed_at)
    SELECT value ->> 'ip_address', value ->> 'asn_number', value ->> 'observed_at' FROM json_each(?)`,
  session_summaries: `INSERT INTO session_summaries (session_id, first_event_at, last_event_at, created_at, enrichment, source_ip,
        snapshot_asn, snapshot_country, snapshot_ip_type, enrichment_at)
    SELECT value ->> 'session_id', value ->> 'first_event_at', value ->> 'last_event_at', value ->> 'created_at', value ->> 'enrichment',
           value ->> 'source_ip', value ->> 'snapshot_asn', value ->> 'snapshot_country', value ->> 'snapshot_ip_type',
           value ->> 'enrichment_at' FROM json_each(?)`,
};

/** The fixture's rows per table (sessions in session_id order). */
export function readFixture(): Record<FixtureTable, Record<string, unknown>[]> {
  return JSON.parse(readFileSync(FIXTURE_FILE, 'utf8')) as Record<FixtureTable, Record<string, unknown>[]>;
}

/**
 * Creates `path` with the v16 schema if needed and writes the fixture's inventory and its
 * first `sessions` sessions (all when undefined), in one transaction. A file with data is
 * refused (exit 1) unless `reset`, which first empties the four tables and the backfill state.
 */
export function seedSqliteFixture(path: string, sessions?: number, reset = false): Record<FixtureTable, number> {
  const fixture = readFixture();
  const total = fixture.session_summaries.length;
  if (sessions !== undefined && sessions > total) {
    throw new CliError(`--sessions: a sqlite: database gets the shared fixture, which has ${total} sessions (got ${sessions}); use PostgreSQL for more`, ExitCode.usage);
  }
  fixture.session_summaries = fixture.session_summaries.slice(0, sessions ?? total);
  const db = openSqlite(path, { create: true });
  try {
    const { n } = db.prepare(`SELECT (SELECT count(*) FROM session_summaries) + (SELECT count(*) FROM ip_inventory) AS n`).get() as { n: number };
    if (n > 0 && !reset) throw new CliError(`sqlite:${path} already has data (session_summaries or ip_inventory is not empty); use --reset to replace it`, ExitCode.error);
    db.transaction(() => {
      db.exec(`DELETE FROM backfill_rejects; DELETE FROM backfill_runs; DELETE FROM session_summaries; DELETE FROM ip_asn_history;
               DELETE FROM ip_inventory; DELETE FROM asn_inventory;`);
      for (const [table, sql] of Object.entries(INSERTS)) db.prepare(sql).run(JSON.stringify(fixture[table as FixtureTable]));
    }).immediate();
    return { asn_inventory: fixture.asn_inventory.length, ip_inventory: fixture.ip_inventory.length,
      ip_asn_history: fixture.ip_asn_history.length, session_summaries: fixture.session_summaries.length };
  } finally {
    db.close();
  }
}
