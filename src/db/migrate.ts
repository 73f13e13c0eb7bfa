// `migrate`: install sql/functions, apply pending sql/migrations with node-pg-migrate
// (each migration in its own transaction), then install sql/views.
import { runner } from 'node-pg-migrate';
import { relative } from 'node:path';
import type postgres from 'postgres';
import { CliError, ExitCode } from '../errors.js';
import { isVerbose, log } from '../log.js';
import { pgClientConfig, type Database } from './connect.js';
import { redact } from './redact.js';
import { forgetMigrationChecksums, recordMigrationChecksums } from './migration-checksums.js';
import { functionInstallFiles, sqlDir, sqlFiles, sqlRoot, type SqlDir } from './sqlfiles.js';
import type { Finding } from '../schema/findings.js';

export const MIGRATIONS_TABLE = 'pgmigrations';

/** A row of schema_repair_plan() (sql/functions/schema_repair_plan.sql). */
export interface RepairStep {
  step: number;
  finding_id: string;
  action: string;
  table_name: string | null;
  object_name: string | null;
  statement: string | null;
  lock_mode: string | null;
  rewrites_table: boolean | null;
  table_bytes: string | number | null;
  concurrently: boolean;
  run_sql: string;
  severity: string;
  repair: string;
  message: string | null;
}

/** The opt-in repairs of schema_findings() (its opt_in column) and their flags. */
export const OPT_INS = ['drop-duplicates', 'convert-jsonb'] as const;
export type OptIn = (typeof OPT_INS)[number];

export interface MigrateOptions {
  optIn?: OptIn[];
}

export interface MigrateReport {
  functions: number;
  views: number;
  applied: string[];
  pending: string[];
  repaired: Pick<RepairStep, 'step' | 'finding_id' | 'action' | 'table_name' | 'object_name' | 'statement'>[];
  /** What schema_findings() still reports afterwards: not repaired automatically (manual, or opt-in not chosen). */
  notRepaired: Finding[];
}

/**
 * Our own installation steps are quiet: NOTICEs such as "procedure ... does not exist,
 * skipping" from a guarded DROP are noise. Under --verbose they are shown.
 */
export function quietSetting(): string {
  return isVerbose() ? 'set local client_min_messages = notice' : 'set local client_min_messages = warning';
}

/** Run one multi-statement SQL file in a transaction (simple protocol). */
async function runFile(sql: postgres.Sql, name: string, text: string): Promise<void> {
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe('set local check_function_bodies = off');
      await tx.unsafe(quietSetting());
      await tx.unsafe(text).simple();
    });
  } catch (err) {
    throw new CliError(redact(`installing ${name} failed: ${(err as Error).message}`), ExitCode.error);
  }
}

export async function installObjects(db: Database, dir: Extract<SqlDir, 'functions' | 'views' | 'seed'>): Promise<number> {
  const files = dir === 'functions' ? functionInstallFiles() : sqlFiles(dir);
  for (const file of files) {
    const name = relative(sqlRoot, file.path);
    log.verbose(`installing ${name}`);
    await runFile(db.sql, name, file.text);
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
        await tx.unsafe(quietSetting());
        for (const f of functionInstallFiles()) await tx.unsafe(f.text).simple();
      }
      result = await fn(tx);
      throw new RollbackSignal();
    })
    .catch((err: unknown) => {
      if (!(err instanceof RollbackSignal)) throw err;
    });
  return result as T;
}

/** What the repair step would run (sql/functions/schema_repair_plan.sql); changes nothing. */
export async function repairPlan(sql: postgres.Sql, options: { withCurrentFunctions?: boolean; optIn?: OptIn[] } = {}): Promise<RepairStep[]> {
  const optIn = options.optIn ?? [];
  return inRolledBackTransaction(
    sql,
    async (tx) => (await tx`select * from schema_repair_plan(true, ${optIn}::text[]) order by step`) as unknown as RepairStep[],
    options,
  );
}

const MAX_ROUNDS = 3;

/**
 * The repair step: runs what schema_repair_plan() lists (the findings migrate repairs
 * automatically, plus the opted-in ones), each step in its own transaction, index builds
 * CONCURRENTLY outside one. A repair can make another possible (a column before the
 * constraint on it), so the plan is read again after each round, up to three rounds.
 * Findings that are not repaired automatically are left alone and returned by migrateUp.
 */
export async function repairSchema(db: Database, options: MigrateOptions = {}): Promise<MigrateReport['repaired']> {
  const done: MigrateReport['repaired'] = [];
  let previous = '';
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const plan = await repairPlan(db.sql, { optIn: options.optIn });
    const ids = plan.map((s) => s.finding_id).join('\n');
    if (plan.length === 0 || ids === previous) break;
    previous = ids;
    for (const step of plan) {
      log.info(`repair: ${step.action} ${step.table_name ?? ''}${step.object_name ? '.' + step.object_name : ''}`);
      try {
        if (step.concurrently) await db.sql.unsafe(step.run_sql);
        else
          await db.sql.begin(async (tx) => {
            await tx.unsafe(quietSetting());
            await tx.unsafe(step.run_sql);
          });
      } catch (err) {
        throw new CliError(
          redact(`schema repair step ${done.length + 1} (${step.action} on ${step.table_name ?? '?'}) failed and was rolled back: ${(err as Error).message}\n  statement: ${step.statement ?? step.run_sql}`),
          ExitCode.error,
        );
      }
      done.push({ step: done.length + 1, finding_id: step.finding_id, action: step.action, table_name: step.table_name, object_name: step.object_name, statement: step.statement });
    }
  }
  return done;
}

export async function migrateUp(db: Database, options: MigrateOptions = {}): Promise<MigrateReport> {
  // What needs repair before anything runs (this version's schema_findings, rolled back), so
  // that the report also names what the pending migrations repaired themselves (on a real
  // install migration 002 completes ip_inventory, validates the NOT VALID foreign key, ...).
  const optIn: string[] = options.optIn ?? [];
  const before = (await inRolledBackTransaction(db.sql, (tx) => tx`select * from schema_findings(true) order by step`, { withCurrentFunctions: true })
    .catch(() => [])) as unknown as Finding[];
  const functions = await installObjects(db, 'functions');
  const pending = await pendingMigrations(db);
  const applied = pending.length > 0 ? await runMigrations(db, 'up', Infinity) : [];
  await recordMigrationChecksums(db.sql);
  // Repair before views: a view over a drifted column would block its repair.
  const steps = await repairSchema(db, options);
  const views = await installObjects(db, 'views');
  const after = (await db.sql`select * from schema_findings(true) order by step`) as unknown as Finding[];
  const left = new Set(after.map((f) => f.finding_id));
  const ran = new Set(steps.map((s) => s.finding_id));
  const byMigrations = before
    .filter((f) => (f.repair === 'auto' || (f.repair === 'opt-in' && optIn.includes(f.opt_in ?? ''))) && !left.has(f.finding_id) && !ran.has(f.finding_id))
    .map((f) => ({ step: 0, finding_id: f.finding_id, action: f.kind, table_name: f.table_name, object_name: f.object_name, statement: f.fix }));
  const repaired = [...byMigrations, ...steps].map((r, i) => ({ ...r, step: i + 1 }));
  return { functions, views, applied, pending, repaired, notRepaired: after.filter((f) => f.repair !== 'none') };
}

export async function migrateDown(db: Database, count: number): Promise<string[]> {
  const reverted = await runMigrations(db, 'down', count);
  // A reverted migration applied again later gets the checksum of its file then.
  await forgetMigrationChecksums(db.sql, reverted);
  return reverted;
}
