// Checksums of applied migrations. node-pg-migrate records only a migration's name and
// time (pgmigrations), so an applied migration whose file was edited afterwards goes
// unnoticed. `cowrie-db migrate` records the sha256 of each migration file it finds
// applied (recordMigrationChecksums, after the migrations ran), in
//   cowrie_db_migration_checksums(name primary key, sha256, recorded_at)
// and `cowrie-db validate` compares them with the files on disk (readMigrationChecksums).
// A migration applied before checksums existed gets the checksum of the file as it is
// when migrate first records it (trust on first use); it is never overwritten afterwards.
import { createHash } from 'node:crypto';
import type postgres from 'postgres';
import { MIGRATIONS_TABLE } from './migrate.js';
import { sqlFiles } from './sqlfiles.js';

export const CHECKSUMS_TABLE = 'cowrie_db_migration_checksums';

/** The table's DDL, shared with the one-file psql install. */
export const CHECKSUMS_TABLE_DDL = `CREATE TABLE IF NOT EXISTS ${CHECKSUMS_TABLE} (
    name        varchar(255) PRIMARY KEY,
    sha256      char(64) NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now())`;

export interface MigrationFile {
  name: string;
  sha256: string;
}

/** sha256 (hex) of every migration file on disk, by migration name (file name without .sql). */
export function migrationFileChecksums(): MigrationFile[] {
  return sqlFiles('migrations').map((f) => ({
    name: f.name.replace(/\.sql$/, ''),
    sha256: createHash('sha256').update(f.text, 'utf8').digest('hex'),
  }));
}

/**
 * Records the checksum of every applied migration that has none yet. Call it after the
 * migrations ran (it needs a read-write connection; creates its table if missing).
 * Returns the names recorded now.
 */
export async function recordMigrationChecksums(sql: postgres.Sql): Promise<string[]> {
  const [exists] = await sql`select to_regclass(${MIGRATIONS_TABLE}) is not null as ok`;
  if (!exists?.ok) return [];
  const [table] = await sql`select to_regclass(${CHECKSUMS_TABLE}) is not null as ok`;
  if (!table?.ok) await sql.unsafe(CHECKSUMS_TABLE_DDL); // (IF NOT EXISTS would say "already exists, skipping")
  const applied = new Set((await sql.unsafe(`select name from ${MIGRATIONS_TABLE}`)).map((r) => String(r.name)));
  const files = migrationFileChecksums().filter((f) => applied.has(f.name));
  if (files.length === 0) return [];
  const rows = await sql.unsafe(
    `INSERT INTO ${CHECKSUMS_TABLE} (name, sha256)
     SELECT * FROM unnest($1::text[], $2::text[])
     ON CONFLICT (name) DO NOTHING RETURNING name`,
    [files.map((f) => f.name), files.map((f) => f.sha256)],
  );
  return rows.map((r) => String(r.name));
}

/** Drops the checksums of migrations that were reverted (migrate --down). */
export async function forgetMigrationChecksums(sql: postgres.Sql, names: string[]): Promise<void> {
  if (names.length === 0) return;
  const [exists] = await sql`select to_regclass(${CHECKSUMS_TABLE}) is not null as ok`;
  if (exists?.ok) await sql.unsafe(`DELETE FROM ${CHECKSUMS_TABLE} WHERE name = ANY ($1::text[])`, [names]);
}

export interface RecordedChecksum {
  name: string;
  sha256: string;
  recordedAt: string;
}

/** The recorded checksums, or null when the table does not exist (never recorded). Read-only. */
export async function readMigrationChecksums(sql: postgres.Sql | postgres.TransactionSql): Promise<RecordedChecksum[] | null> {
  const [exists] = await sql`select to_regclass(${CHECKSUMS_TABLE}) is not null as ok`;
  if (!exists?.ok) return null;
  const rows = await sql.unsafe(`select name, sha256, recorded_at from ${CHECKSUMS_TABLE} order by name`);
  return rows.map((r) => ({ name: String(r.name), sha256: String(r.sha256).trim(), recordedAt: new Date(r.recorded_at as string).toISOString() }));
}
