// Opening a SQLite file for cowrie-db: the better-sqlite3 connection, the pg_parse_*
// functions the snapshot query calls, the schema check, and the errors (with the
// CLI's exit codes) for a missing file, a file that is not SQLite, a missing table,
// and the PostgreSQL-only features.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { CliError, ExitCode, errorMessage } from '../errors.js';
import { parseAsn, parseCountry, parseIp, parseIpType, parseTimestamp, spurIpType } from './parse.js';
import { ADDED_RUN_COLUMNS, REQUIRED_COLUMNS, SCHEMA_SQL, STATE_SQL } from './sql.js';

export type SqliteDb = Database;

export interface OpenOptions {
  /** Open read-only (dry runs): nothing can be written, not even the state tables. */
  readonly?: boolean;
  /** Create the file when it does not exist (seed, createSqliteSchema). Default: it must exist. */
  create?: boolean;
}

/**
 * The error for a feature that only the PostgreSQL engine has, used on a sqlite:
 * target: exit 64 (usage), one line naming the feature and what SQLite does offer.
 */
export function sqliteUnsupported(feature: string, path?: string): CliError {
  const where = path ? `sqlite:${path}` : 'a sqlite: database';
  return new CliError(
    `${feature} is PostgreSQL-only and not available for ${where}; the SQLite path supports ` +
      '`backfill` (batch size, max batches, dry run, resume, restart, pause) and `seed` only. ' +
      'Use a PostgreSQL --db (or none: the embedded PostgreSQL 17) for it.',
    ExitCode.usage,
  );
}

/**
 * better-sqlite3 is an optional dependency (a native module): loaded on first use, so
 * that only the SQLite path needs it, with a clear error when it is missing.
 */
function sqliteDriver(): typeof Database {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  } catch (err) {
    throw new CliError(
      'the SQLite path needs the optional package better-sqlite3, which is not installed or did not build here ' +
        `(${errorMessage(err).split('\n')[0]}); install it with \`npm install better-sqlite3\` ` +
        '(it needs a C++ toolchain when no prebuilt binary fits this platform), or use PostgreSQL',
      ExitCode.couldNotRun,
    );
  }
}

/** Opens `path` with foreign keys on and the parsers registered. Throws CliError (exit 3) when it cannot. */
export function openSqlite(path: string, options: OpenOptions = {}): Database {
  if (!options.create && !existsSync(path)) {
    throw new CliError(`sqlite:${path}: no such file (create one with \`cowrie-db seed --db sqlite:${path}\`)`, ExitCode.couldNotRun);
  }
  const Driver = sqliteDriver();
  let db: Database;
  try {
    db = new Driver(path, { readonly: options.readonly ?? false, fileMustExist: !options.create, timeout: 5000 });
    db.pragma('foreign_keys = ON');
    db.pragma('cache_size = -65536'); // 64 MB of page cache
    db.prepare('SELECT count(*) FROM sqlite_schema').get(); // "file is not a database" shows here
  } catch (err) {
    throw new CliError(`sqlite:${path}: cannot open: ${err instanceof Error ? err.message : String(err)}`, ExitCode.couldNotRun);
  }
  const fn = (name: string, f: (v: string | null) => unknown): void => {
    db.function(name, { deterministic: true }, ((v: unknown) => f(v === null || v === undefined ? null : String(v))) as (...a: never[]) => unknown);
  };
  fn('pg_parse_ip', parseIp);
  fn('pg_parse_asn', parseAsn);
  fn('pg_parse_country', parseCountry);
  fn('pg_parse_ip_type', parseIpType);
  fn('pg_parse_timestamptz', parseTimestamp);
  fn('pg_spur_ip_type', spurIpType);
  return db;
}

/** Creates the upstream v16 tables and the backfill state tables when missing, and adds newer counters (idempotent). */
export function ensureSchema(db: Database): void {
  db.exec(SCHEMA_SQL);
  db.exec(STATE_SQL);
  const have = new Set((db.prepare(`SELECT name FROM pragma_table_info('backfill_runs')`).all() as { name: string }[]).map((r) => r.name));
  for (const c of ADDED_RUN_COLUMNS) if (!have.has(c)) db.exec(`ALTER TABLE backfill_runs ADD COLUMN ${c} INTEGER NOT NULL DEFAULT 0`);
}

/** Names the tables/columns the backfill needs that the file lacks; CliError exit 2 when any. */
export function checkSchema(db: Database, path: string): void {
  const missing: string[] = [];
  for (const [table, columns] of Object.entries(REQUIRED_COLUMNS)) {
    const have = new Set((db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((r) => r.name));
    if (have.size === 0) {
      missing.push(`table ${table}`);
      continue;
    }
    for (const c of columns) if (!have.has(c)) missing.push(`${table}.${c}`);
  }
  if (missing.length > 0) {
    throw new CliError(
      `sqlite:${path} does not have the v16 schema the backfill needs: missing ${missing.join(', ')} ` +
        `(a file made by \`cowrie-db seed --db sqlite:${path}\` has it)`,
      ExitCode.critical,
    );
  }
}

/** Whether the state tables (backfill_runs, backfill_rejects) exist. */
export function hasStateTables(db: Database): boolean {
  const row = db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name IN ('backfill_runs', 'backfill_rejects')`).get() as { n: number };
  return row.n === 2;
}
