// `migrate`: install sql/functions, apply pending sql/migrations with node-pg-migrate
// (each migration in its own transaction), then install sql/views.
import { runner } from 'node-pg-migrate';
import type postgres from 'postgres';
import { CliError, ExitCode } from '../errors.js';
import { log } from '../log.js';
import { pgClientConfig, type Database } from './connect.js';
import { redact } from './redact.js';
import { forgetMigrationChecksums, recordMigrationChecksums } from './migration-checksums.js';
import { sqlDir, sqlFiles, type SqlDir } from './sqlfiles.js';

export const MIGRATIONS_TABLE = 'pgmigrations';

export interface RepairStep {
  step: number;
  action: string;
  table_name: string | null;
  object_name: string | null;
  statement: string | null;
  lock_mode: string | null;
  rewrites_table: boolean | null;
  table_bytes: string | number | null;
  concurrently: boolean;
  run_sql: string;
  blocker: string | null;
  message: string | null;
}

export interface MigrateReport {
  functions: number;
  views: number;
  applied: string[];
  pending: string[];
  repaired: Pick<RepairStep, 'step' | 'action' | 'table_name' | 'object_name' | 'statement'>[];
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
      databaseUrl: pgClientConfig(db.target, db.tls),
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

class RollbackSignal extends Error {}

/**
 * Runs `fn` in a transaction that is always rolled back. With `withCurrentFunctions`,
 * this version's sql/functions are installed inside it first, so a read that needs
 * them (a plan, a schema snapshot) leaves nothing behind in the database.
 */
export async function inRolledBackTransaction<T>(
  sql: postgres.Sql,
  fn: (tx: postgres.TransactionSql) => Promise<T>,
  options: { withCurrentFunctions?: boolean } = {},
): Promise<T> {
  let result: T | undefined;
  await sql
    .begin(async (tx) => {
      if (options.withCurrentFunctions) {
        await tx.unsafe('set local check_function_bodies = off');
        for (const f of sqlFiles('functions')) await tx.unsafe(f.text).simple();
      }
      result = await fn(tx);
      throw new RollbackSignal();
    })
    .catch((err: unknown) => {
      if (!(err instanceof RollbackSignal)) throw err;
    });
  return result as T;
}

/** What the repair step would still do (sql/functions/schema_repair_plan.sql); changes nothing. */
export async function repairPlan(sql: postgres.Sql, options: { withCurrentFunctions?: boolean } = {}): Promise<RepairStep[]> {
  // The plan function uses a temporary table: it runs in a rolled-back transaction.
  return inRolledBackTransaction(
    sql,
    async (tx) => (await tx`select * from schema_repair_plan(true) order by step`) as unknown as RepairStep[],
    options,
  );
}

/**
 * The repair step: brings drifted or incomplete objects back to what the migrations
 * define. Stops before changing anything if a step is blocked (first blocker only).
 * Each step runs in its own transaction; index builds run CONCURRENTLY outside one.
 */
export async function repairSchema(db: Database): Promise<MigrateReport['repaired']> {
  const plan = await repairPlan(db.sql);
  const blocked = plan.find((s) => s.blocker);
  if (blocked) {
    throw new CliError(
      redact(
        `schema repair stopped before changing anything, at step ${blocked.step} (${blocked.action} on ${blocked.table_name ?? '?'}):\n` +
          `  ${blocked.blocker}\n  statement: ${blocked.statement ?? blocked.run_sql}`,
      ),
      ExitCode.error,
    );
  }
  const done: MigrateReport['repaired'] = [];
  for (const step of plan) {
    log.info(`repair ${step.step}: ${step.action} ${step.table_name ?? ''}${step.object_name ? '.' + step.object_name : ''}`);
    try {
      if (step.concurrently) await db.sql.unsafe(step.run_sql);
      else await db.sql.begin((tx) => tx.unsafe(step.run_sql));
    } catch (err) {
      throw new CliError(
        redact(`schema repair step ${step.step} (${step.action}) failed and was rolled back: ${(err as Error).message}\n  statement: ${step.statement ?? step.run_sql}`),
        ExitCode.error,
      );
    }
    done.push({ step: step.step, action: step.action, table_name: step.table_name, object_name: step.object_name, statement: step.statement });
  }
  return done;
}

export async function migrateUp(db: Database): Promise<MigrateReport> {
  const functions = await installObjects(db, 'functions');
  const pending = await pendingMigrations(db);
  const applied = pending.length > 0 ? await runMigrations(db, 'up', Infinity) : [];
  await recordMigrationChecksums(db.sql);
  // Repair before views: a view over a drifted column would block its repair.
  const repaired = await repairSchema(db);
  const views = await installObjects(db, 'views');
  return { functions, views, applied, pending, repaired };
}

export async function migrateDown(db: Database, count: number): Promise<string[]> {
  const reverted = await runMigrations(db, 'down', count);
  // A reverted migration applied again later gets the checksum of its file then.
  await forgetMigrationChecksums(db.sql, reverted);
  return reverted;
}
