// The drift check: the schema the migrations define (built in a scratch database on
// the same server, so deparsed expressions compare like for like) against the live
// one, both described by schema_snapshot() and compared by diffSchemas().
// Nothing persistent changes in the target: schema_snapshot() is installed inside a
// transaction that is rolled back.
import type postgres from 'postgres';
import { openTarget, type Database } from '../db/connect.js';
import { MIGRATIONS_TABLE, inRolledBackTransaction, migrateUp } from '../db/migrate.js';
import { CHECKSUMS_TABLE } from '../db/migration-checksums.js';
import { CliError, ExitCode } from '../errors.js';
import { log } from '../log.js';
import { checkExitCode, diffSchemas, type Finding, type SchemaSnapshot } from './diff.js';

export interface CheckResult {
  database: string;
  serverVersion: string;
  recordedSchemaVersion: string | null;
  expectedSchemaVersion: string | null;
  findings: Finding[];
  exitCode: 0 | 1 | 2;
}

/** Bookkeeping tables (like pgmigrations) are not part of the schema compared. */
export const BOOKKEEPING_TABLES = [MIGRATIONS_TABLE, CHECKSUMS_TABLE];

/** schema_snapshot() of a database, with this version's functions, leaving nothing behind. */
export async function liveSnapshot(sql: postgres.Sql): Promise<SchemaSnapshot> {
  try {
    return await inRolledBackTransaction(
      sql,
      async (tx) => {
        const [row] = await tx`select schema_snapshot(current_schema(), ${BOOKKEEPING_TABLES}::text[]) as s`;
        return row?.s as SchemaSnapshot;
      },
      { withCurrentFunctions: true },
    );
  } catch (err) {
    const e = err as { code?: string; message: string };
    const code = e.code === '42501' ? ExitCode.couldNotRun : ExitCode.error;
    throw new CliError(`could not read the schema: ${e.message}`, code);
  }
}

/** The schema the migrations build, on a scratch database of the same server. */
export async function expectedSnapshot(db: Database): Promise<SchemaSnapshot> {
  const scratch = `cowrie_check_${process.pid}_${Date.now().toString(36)}`;
  try {
    await db.sql.unsafe(`create database ${scratch}`);
  } catch (err) {
    throw new CliError(
      `check builds the expected schema in a scratch database and could not create one (${(err as Error).message}); ` +
        'grant CREATEDB to this role, or run check as a role that has it',
      ExitCode.couldNotRun,
    );
  }
  const scratchDb = await openTarget({ ...db.target, database: scratch });
  try {
    log.verbose(`building the expected schema in scratch database ${scratch}`);
    await migrateUp(scratchDb);
    return await liveSnapshot(scratchDb.sql);
  } finally {
    await scratchDb.close();
    await db.sql.unsafe(`drop database if exists ${scratch}`).catch(() => undefined);
  }
}

export async function checkSchema(db: Database): Promise<CheckResult> {
  const [expected, actual] = [await expectedSnapshot(db), await liveSnapshot(db.sql)];
  const [version] = await db.sql`select current_setting('server_version') as v`;
  const findings = diffSchemas(expected, actual);
  return {
    database: db.label,
    serverVersion: String(version?.v ?? '?'),
    recordedSchemaVersion: actual.schema_version ?? null,
    expectedSchemaVersion: expected.schema_version ?? null,
    findings,
    exitCode: checkExitCode(findings),
  };
}
