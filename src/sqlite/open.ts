// Opening a SQLite file for cowrie-db: the better-sqlite3 connection with the pg_*
// functions the snapshot query calls, the schema (created, or checked: the columns the
// backfill needs, the snapshot_ip_types rename), and the errors with the CLI's exit codes.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { CliError, ExitCode, errorMessage } from '../errors.js';
import { jsonText, parseAsn, parseCountry, parseIp, parseIpType, parseTimestamp, spurIpType } from './parse.js';
import { ADDED_RUN_COLUMNS, REQUIRED_COLUMNS, SCHEMA_SQL } from './sql.js';

export type SqliteDb = Database;

/** The exit-64 error for a feature only the PostgreSQL engine has, on a sqlite: target. */
export function sqliteUnsupported(feature: string, path?: string): CliError {
  return new CliError(
    `${feature} is PostgreSQL-only and not available for ${path ? `sqlite:${path}` : 'a sqlite: database'}; the SQLite path ` +
      'supports `backfill` (batch size, max batches, dry run, resume, restart, pause) and `seed` (the shared fixture) only. ' +
      'Use a PostgreSQL --db (or none: the embedded PostgreSQL 17) for it.',
    ExitCode.usage,
  );
}

/** better-sqlite3 is an optional dependency (a native module): loaded on first use, with a clear error when missing. */
function sqliteDriver(): typeof Database {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  } catch (err) {
    throw new CliError(
      `the SQLite path needs the optional package better-sqlite3, which is not installed or did not build here (${errorMessage(err).split('\n')[0]}); ` +
        'install it with `npm install better-sqlite3` (it needs a C++ toolchain when no prebuilt binary fits this platform), or use PostgreSQL',
      ExitCode.couldNotRun,
    );
  }
}

/**
 * Opens `path` (it must exist unless `create`) with foreign keys on and the parsers
 * registered; `create` also creates the schema. Throws CliError (exit 3) when it cannot.
 */
export function openSqlite(path: string, options: { readonly?: boolean; create?: boolean } = {}): Database {
  if (!options.create && !existsSync(path)) {
    throw new CliError(`sqlite:${path}: no such file (create one with \`cowrie-db seed --db sqlite:${path}\`)`, ExitCode.couldNotRun);
  }
  const Driver = sqliteDriver();
  let db: Database;
  try {
    db = new Driver(path, { readonly: options.readonly ?? false, fileMustExist: !options.create, timeout: 5000 });
    db.pragma('foreign_keys = ON');
    db.prepare('SELECT count(*) FROM sqlite_schema').get(); // "file is not a database" shows here
  } catch (err) {
    throw new CliError(`sqlite:${path}: cannot open: ${errorMessage(err)}`, ExitCode.couldNotRun);
  }
  const functions = { pg_text: jsonText, pg_parse_ip: parseIp, pg_parse_asn: parseAsn, pg_parse_country: parseCountry,
    pg_parse_ip_type: parseIpType, pg_parse_timestamptz: parseTimestamp, pg_spur_ip_type: spurIpType };
  for (const [name, f] of Object.entries(functions)) {
    db.function(name, { deterministic: true }, ((v: unknown) => f(v === null ? null : String(v))) as (...a: never[]) => unknown);
  }
  if (options.create) ensureSchema(db);
  return db;
}

/** Creates what is missing of the schema and the backfill state, and adds newer counters (idempotent). */
export function ensureSchema(db: Database): void {
  db.exec(SCHEMA_SQL);
  const have = new Set((db.prepare(`SELECT name FROM pragma_table_info('backfill_runs')`).all() as { name: string }[]).map((r) => r.name));
  for (const c of ADDED_RUN_COLUMNS) if (!have.has(c)) db.exec(`ALTER TABLE backfill_runs ADD COLUMN ${c} INTEGER NOT NULL DEFAULT 0`);
}

/** Names the tables/columns the backfill needs that the file lacks: CliError exit 2 when any. */
export function checkSchema(db: Database, path: string): void {
  const missing: string[] = [];
  let plural = false;
  for (const [table, columns] of Object.entries(REQUIRED_COLUMNS)) {
    const have = new Set((db.prepare(`SELECT name FROM pragma_table_xinfo(?)`).all(table) as { name: string }[]).map((r) => r.name));
    if (have.size === 0) missing.push(`table ${table}`);
    else for (const c of columns) if (!have.has(c)) missing.push(`${table}.${c}`);
    plural ||= have.has('snapshot_ip_types') && !have.has('snapshot_ip_type');
  }
  if (missing.length === 0) return;
  const hint = plural
    ? ' (the file has the drifted snapshot_ip_types: rename it with `ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_types TO snapshot_ip_type`)'
    : ` (a file made by \`cowrie-db seed --db sqlite:${path}\` has them)`;
  throw new CliError(`sqlite:${path} does not have the v16 schema the backfill needs: missing ${missing.join(', ')}${hint}`, ExitCode.critical);
}
