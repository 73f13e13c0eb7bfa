// cowrie-db seed: fill a database with deterministic, production-shaped synthetic
// data (sql/seed, generated server-side), optionally in one of the drifted schema
// states found in the field. Prints the rows written per table, checked against
// SELECT count(*).
import { Command } from 'commander';
import type postgres from 'postgres';
import { z } from 'zod';
import { action, commonSchema, intFlag, parseFlags, withCommonOptions } from '../cli.js';
import { openTarget, type Database } from '../db/connect.js';
import { installObjects, migrateUp } from '../db/migrate.js';
import { sqlFiles, upSection } from '../db/sqlfiles.js';
import { resolveTarget } from '../db/target.js';
import { CliError, ExitCode } from '../errors.js';
import { isVerbose, log, out } from '../log.js';
import { redact } from '../db/redact.js';
import { seedSqliteFixture, SQLITE_FIXTURE_SESSIONS } from '../sqlite/fixture.js';
import { sqliteUnsupported } from '../sqlite/open.js';

export const DRIFT_KINDS = ['none', 'plural-text', 'plural-array', 'incomplete-inventory'] as const;
/**
 * The shape of session_summaries.enrichment: `real` (default) is what the upstream
 * loader writes (~92% keyed by source IP under "session", skip-enrich payloads, ~4%
 * flat, docs/seed.md); `flat` is every session in the top-level flat shape (the
 * generator's rows before the loader shape existed).
 */
export const ENRICHMENT_SHAPES = ['real', 'flat'] as const;
export type EnrichmentShape = (typeof ENRICHMENT_SHAPES)[number];
/** 'none', one drift kind, or several joined by commas. */
export type DriftSpec = string;

/** The production shape the default IP count follows (sessions per distinct source IP). */
export const PRODUCTION_SESSIONS = 1_682_827;
export const PRODUCTION_IPS = 38_864;
export const MAX_SESSIONS = 50_000_000;

/** The tables seed_generate() writes, in the order it reports them. */
export const SEED_TABLES = ['asn_inventory', 'ip_inventory', 'ip_asn_history', 'session_summaries'] as const;

const flagsSchema = commonSchema
  .extend({
    sessions: intFlag(1, MAX_SESSIONS),
    seed: intFlag(-2_147_483_648, 2_147_483_647).optional().default(1),
    ips: intFlag(1, MAX_SESSIONS).optional(),
    // One kind, or several joined by commas (e.g. plural-text,incomplete-inventory).
    drift: z
      .string()
      .refine(
        (v) => {
          const kinds = v.split(',');
          return kinds.every((k) => (DRIFT_KINDS as readonly string[]).includes(k)) && (kinds.length === 1 || !kinds.includes('none')) && new Set(kinds).size === kinds.length;
        },
        { message: `must be one of ${DRIFT_KINDS.join(', ')}, or several of them (not none) joined by commas` },
      )
      .optional()
      .default('none'),
    reset: z.boolean().optional().default(false),
    enrichmentShape: z
      .string()
      .refine((v) => (ENRICHMENT_SHAPES as readonly string[]).includes(v), { message: `must be one of ${ENRICHMENT_SHAPES.join(', ')}` })
      .transform((v) => v as EnrichmentShape)
      .optional(),
  })
  .refine((f) => f.ips === undefined || f.ips <= f.sessions, {
    path: ['ips'],
    message: 'must be an integer from 1 to the number of sessions (every IP needs a session)',
  });

export interface SeedReport {
  database: string;
  sessions: number;
  seed: number;
  ips: number;
  drift: DriftSpec;
  /** The shape of the session enrichment JSON written (see ENRICHMENT_SHAPES). */
  enrichmentShape: EnrichmentShape;
  /** How the schema was obtained: built by `migrate`, built as the upstream v15+v16 schema, or already there. */
  schema: 'migrated' | 'upstream' | 'existing';
  reset: boolean;
  /** Rows each table had before --reset emptied it. */
  removed: Record<string, number>;
  driftChanges: string[];
  /** Rows written per table (equal to SELECT count(*) after the commit: verified). */
  tables: Record<string, number>;
  elapsedMs: number;
}

/** The default IP count: the production ratio of sessions per IP, at least 1. */
export function defaultIps(sessions: number): number {
  return Math.max(1, Math.round((sessions * PRODUCTION_IPS) / PRODUCTION_SESSIONS));
}

const regclass = async (sql: postgres.Sql, name: string): Promise<boolean> => {
  const [r] = await sql`select to_regclass(${name}) is not null as ok`;
  return Boolean(r?.ok);
};

/** For each table seeding writes that exists: 1 if it has a row, else 0. */
async function existingRows(sql: postgres.Sql): Promise<Record<string, number>> {
  const rows: Record<string, number> = {};
  for (const table of SEED_TABLES) {
    if (!(await regclass(sql, table))) continue;
    const [r] = await sql.unsafe(`select count(*)::bigint as n from (select 1 from ${table} limit 1) x`);
    rows[table] = Number(r?.n ?? 0);
  }
  return rows;
}

/**
 * The upstream schema only (what the Python project leaves behind): the up sections
 * of migrations 001 and 002, each in one transaction, without node-pg-migrate's
 * bookkeeping. 002 uses helpers from sql/functions: they are installed first and
 * dropped again afterwards, so that no cowrie-db object remains.
 */
async function buildUpstreamSchema(db: Database): Promise<void> {
  const migrations = sqlFiles('migrations').filter((f) => /^00[12]_/.test(f.name));
  if (migrations.length !== 2) throw new CliError('sql/migrations: 001 and 002 (the upstream schema) not found', ExitCode.error);
  await installObjects(db, 'functions');
  for (const m of migrations) {
    log.verbose(`applying the up section of ${m.name}`);
    try {
      await db.sql.begin(async (tx) => {
        await tx.unsafe(upSection(m.text)).simple();
      });
    } catch (err) {
      throw new CliError(redact(`building the upstream schema: ${m.name} failed and was rolled back: ${(err as Error).message}`), ExitCode.error);
    }
  }
  await dropRoutinesOf(db, 'functions');
}

/** Drops the functions/procedures defined by the files of a sql/ directory (file name = object name). */
async function dropRoutinesOf(db: Database, dir: 'functions' | 'seed'): Promise<void> {
  const names = sqlFiles(dir).map((f) => f.name.replace(/\.sql$/, ''));
  const routines = await db.sql`
    select p.oid::regprocedure::text as signature
      from pg_proc p
     where p.proname = any(${names}::text[])
       and p.pronamespace = (select oid from pg_namespace where nspname = current_schema())`;
  for (const r of routines) {
    try {
      await db.sql.unsafe(`drop routine if exists ${String(r.signature)}`);
    } catch (err) {
      log.warn(`could not drop ${String(r.signature)}: ${(err as Error).message}`);
    }
  }
}

export async function seed(
  db: Database,
  opts: { sessions: number; seed: number; ips?: number; drift: DriftSpec; reset: boolean; enrichmentShape?: EnrichmentShape },
): Promise<SeedReport> {
  const t0 = performance.now();
  const hadSchema = await regclass(db.sql, 'session_summaries');

  // Refuse before changing anything.
  const before = hadSchema ? await existingRows(db.sql) : {};
  const nonEmpty = Object.entries(before).filter(([, n]) => n > 0).map(([t]) => t);
  if (nonEmpty.length > 0 && !opts.reset) {
    throw new CliError(
      `the database already has data (${nonEmpty.join(', ')} not empty); seeding needs an empty database: ` +
        'add --reset to empty the session and inventory tables (and the backfill run tables) first',
      ExitCode.error,
    );
  }

  let schema: SeedReport['schema'];
  if (opts.drift === 'none') {
    log.info('building the schema: cowrie-db migrate');
    await migrateUp(db);
    schema = hadSchema ? 'existing' : 'migrated';
  } else if (!hadSchema) {
    log.info('building the upstream schema (migrations 001 and 002 only, as the upstream code leaves it)');
    await buildUpstreamSchema(db);
    schema = 'upstream';
  } else {
    log.info('using the existing schema');
    schema = 'existing';
  }

  await installObjects(db, 'seed');

  const ips = opts.ips ?? defaultIps(opts.sessions);
  const enrichmentShape = opts.enrichmentShape ?? 'real';
  log.info(`generating ${opts.sessions} sessions from ${ips} IPs (seed ${opts.seed}, drift ${opts.drift}, enrichment shape ${enrichmentShape})`);
  const conn = db.connect({
    max: 1,
    onnotice: (n) => {
      if (n.message?.startsWith('seed:')) log.info(n.message);
      else log.verbose(`${n.severity ?? 'NOTICE'}: ${n.message}`);
    },
  });
  const removed: Record<string, number> = {};
  const driftChanges: string[] = [];
  const tables: Record<string, number> = {};
  try {
    // One transaction: reset, drift and data commit together or not at all.
    await conn.begin(async (tx) => {
      await tx.unsafe("set local lock_timeout = '5s'");
      if (opts.reset) {
        for (const r of await tx`select table_name, rows_removed from seed_reset()`) {
          removed[String(r.table_name)] = Number(r.rows_removed);
        }
        log.info(`--reset: emptied ${Object.entries(removed).map(([t, n]) => `${t} (${n})`).join(', ') || 'nothing'}`);
      }
      // The drift goes first: on the empty tables it is instant, and seed_generate
      // writes the data in the drifted shape.
      for (const r of await tx`select seed_apply_drift(kind) as change from unnest(${opts.drift.split(',')}::text[]) with ordinality as k(kind, n) order by n`) {
        driftChanges.push(String(r.change));
        log.info(`drift: ${String(r.change)}`);
      }
      for (const r of await tx`select table_name, rows_written from seed_generate(${opts.sessions}::bigint, ${opts.seed}::int, ${ips}::int, enrichment_shape => ${enrichmentShape}::text)`) {
        tables[String(r.table_name)] = Number(r.rows_written);
      }
    });
  } catch (err) {
    const e = err as { message?: string; code?: string };
    if (e.code === '55P03') {
      throw new CliError(`seeding stopped: a table is locked by another session (lock_timeout 5s): ${e.message}`, ExitCode.error);
    }
    throw new CliError(redact(`seeding failed and was rolled back: ${e.message ?? String(err)}`), ExitCode.error);
  } finally {
    await conn.end({ timeout: 5 });
  }

  // The printed counts must be what the tables hold.
  for (const table of SEED_TABLES) {
    const [r] = await db.sql.unsafe(`select count(*)::bigint as n from ${table}`);
    const actual = Number(r?.n ?? -1);
    if (actual !== tables[table]) {
      throw new CliError(`${table}: seed_generate reported ${tables[table]} rows but the table has ${actual}`, ExitCode.error);
    }
  }

  // A drifted database looks as the upstream code left it: no cowrie-db objects
  // (with --drift none the seed functions stay, for psql users).
  if (opts.drift !== 'none') await dropRoutinesOf(db, 'seed');

  return {
    database: db.label,
    sessions: opts.sessions,
    seed: opts.seed,
    ips,
    drift: opts.drift,
    enrichmentShape,
    schema,
    reset: opts.reset,
    removed,
    driftChanges,
    tables,
    elapsedMs: Math.round(performance.now() - t0),
  };
}

function printTables(headline: string, tables: Record<string, number>, elapsedMs: number): void {
  out(`${headline} in ${(elapsedMs / 1000).toFixed(1)} s`);
  const width = Math.max(...SEED_TABLES.map((t) => t.length));
  for (const table of SEED_TABLES) out(`  ${table.padEnd(width)}  ${String(tables[table]).padStart(10)}`);
}

export function seedCommand(): Command {
  const cmd = new Command('seed')
    .description('fill the database with deterministic synthetic sessions and inventory at production shape (server-side)')
    .requiredOption('--sessions <n>', `number of sessions (1-${MAX_SESSIONS}; production: ${PRODUCTION_SESSIONS})`)
    .option('--seed <n>', 'seed of the generator: same sessions + seed = identical rows (default 1)')
    .option('--ips <n>', `distinct source IPs (default: sessions x ${PRODUCTION_IPS}/${PRODUCTION_SESSIONS}, at least 1)`)
    .option('--drift <kind>', `schema state to build: ${DRIFT_KINDS.join(' | ')}, or several joined by commas (default none)`)
    .option('--reset', 'empty the session, inventory and backfill run tables first (otherwise a non-empty database is refused)')
    .option('--enrichment-shape <shape>', `shape of the session enrichment JSON: ${ENRICHMENT_SHAPES.join(' | ')} (default real)`);
  withCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
--drift none            runs \`cowrie-db migrate\` first (the full cowrie-db schema).
--drift plural-text     the upstream schema with snapshot_ip_types text instead of snapshot_ip_type.
--drift plural-array    the upstream schema with snapshot_ip_types text[].
--drift incomplete-inventory
                        the upstream schema with ip_inventory lacking geo_country, is_scanner,
                        is_bogon, ip_types and their indexes.
A drifted database is built (when the database is empty) from migrations 001 and 002
only and keeps no cowrie-db object, like a database the upstream code left behind.

--enrichment-shape real (default)
                        session_summaries.enrichment as the upstream loader writes it:
                        ~92% {"session": {"<ip>": {dshield, urlhaus, spur}}, "virustotal": ..}
                        (spur mostly the 18-string list, 10% SPUR's object), ~3% skip-enrich
                        payloads (all ''), ~4% the flat shape, 0.5% two IPs, 1% SQL NULL,
                        0.5% {}, with dirty values inside each shape (docs/seed.md).
--enrichment-shape flat every session in the flat shape (top-level dshield, cymru, maxmind,
                        spur, enriched_at): the rows the generator wrote before.

--db sqlite:<file>      writes the shared fixture of the snapshot rule (both shapes, the dirty
                        cases; docs/sqlite.md): its inventory and first --sessions sessions
                        (at most ${SQLITE_FIXTURE_SESSIONS}); --seed, --ips, --drift and --enrichment-shape
                        are PostgreSQL-only.`,
  );
  return cmd.action(
    action(async (raw) => {
      const flags = parseFlags(flagsSchema, raw);
      const target = resolveTarget(flags.db);
      if (target.kind === 'sqlite') {
        // A SQLite development install gets the shared fixture of the snapshot rule (src/sqlite/fixture.ts), not generated rows.
        const given = (['seed', 'ips', 'drift', 'enrichmentShape'] as const).find((k) => (raw as Record<string, unknown>)[k] !== undefined);
        if (given) throw sqliteUnsupported(`seed --${given.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, target.path);
        log.info(`database: sqlite:${target.path}`);
        const t0 = performance.now();
        const tables = seedSqliteFixture(target.path, flags.sessions, flags.reset);
        const elapsedMs = Math.round(performance.now() - t0);
        if (flags.json) out(JSON.stringify({ database: `sqlite:${target.path}`, sessions: tables.session_summaries, fixture: true, tables, elapsedMs }));
        else printTables(`seeded sqlite:${target.path} from the shared fixture: ${tables.session_summaries} sessions`, tables, elapsedMs);
        return;
      }
      const db = await openTarget(target);
      log.info(`database: ${db.label}`);
      const report = await seed(db, flags);
      if (flags.json) {
        out(JSON.stringify(report));
        return;
      }
      printTables(
        `seeded ${report.database}: ${report.sessions} sessions, ${report.ips} IPs, seed ${report.seed}, drift ${report.drift}, enrichment ${report.enrichmentShape} (schema: ${report.schema})`,
        report.tables,
        report.elapsedMs,
      );
      if (isVerbose() && report.driftChanges.length) for (const c of report.driftChanges) out(`  drift: ${c}`);
    }),
  );
}
