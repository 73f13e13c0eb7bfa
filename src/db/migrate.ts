// `migrate`: install sql/functions, apply pending sql/migrations with node-pg-migrate
// (each migration in its own transaction), then install sql/views.
import { runner } from 'node-pg-migrate';
import type postgres from 'postgres';
import { CliError, ExitCode } from '../errors.js';
import { log } from '../log.js';
import { pgClientConfig, type Database } from './connect.js';
import { redact } from './redact.js';
import { sqlDir, sqlFiles, type SqlDir } from './sqlfiles.js';

export const MIGRATIONS_TABLE = 'pgmigrations';

export interface MigrateReport {
  functions: number;
  views: number;
  applied: string[];
  pending: string[];
}

/** Run one multi-statement SQL file in a transaction (simple protocol). */
async function runFile(sql: postgres.Sql, name: string, text: string): Promise<void> {
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe('set local check_function_bodies = off');
      await tx.unsafe(text).simple();
    });
  } catch (err) {
    throw new CliError(redact(`installing ${name} failed: ${(err as Error).message}`), ExitCode.error);
  }
}

export async function installObjects(db: Database, dir: Extract<SqlDir, 'functions' | 'views' | 'seed'>): Promise<number> {
  const files = sqlFiles(dir);
  for (const file of files) {
    log.verbose(`installing ${dir}/${file.name}`);
    await runFile(db.sql, `${dir}/${file.name}`, file.text);
  }
  return files.length;
}

async function appliedMigrations(db: Database): Promise<string[]> {
  const [exists] = await db.sql`select to_regclass(${MIGRATIONS_TABLE}) is not null as ok`;
  if (!exists?.ok) return [];
  const rows = await db.sql.unsafe(`select name from ${MIGRATIONS_TABLE} order by run_on, id`);
  return rows.map((r) => String(r.name));
}

export function migrationNames(): string[] {
  return sqlFiles('migrations').map((f) => f.name.replace(/\.sql$/, ''));
}

export async function pendingMigrations(db: Database): Promise<string[]> {
  const applied = new Set(await appliedMigrations(db));
  return migrationNames().filter((m) => !applied.has(m));
}

const migrateLogger = {
  debug: (m: string) => log.verbose(m),
  info: (m: string) => log.verbose(m),
  warn: (m: string) => log.warn(m),
  error: (m: string) => log.error(m),
};

async function runMigrations(db: Database, direction: 'up' | 'down', count: number): Promise<string[]> {
  try {
    const ran = await runner({
      databaseUrl: pgClientConfig(db.target),
      dir: sqlDir('migrations'),
      migrationsTable: MIGRATIONS_TABLE,
      direction,
      count,
      singleTransaction: false,
      checkOrder: true,
      logger: migrateLogger,
    });
    return ran.map((m) => m.name);
  } catch (err) {
    throw new CliError(redact(`migration failed (the failing migration was rolled back): ${(err as Error).message}`), ExitCode.error);
  }
}

export async function migrateUp(db: Database): Promise<MigrateReport> {
  const functions = await installObjects(db, 'functions');
  const pending = await pendingMigrations(db);
  const applied = pending.length > 0 ? await runMigrations(db, 'up', Infinity) : [];
  const views = await installObjects(db, 'views');
  return { functions, views, applied, pending };
}

export async function migrateDown(db: Database, count: number): Promise<string[]> {
  return runMigrations(db, 'down', count);
}
