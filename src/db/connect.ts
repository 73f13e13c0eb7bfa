// Opens the target database with the `postgres` client. For the embedded default
// it starts the server first (and stops it at exit if this process started it).
import { dirname, join } from 'node:path';
import postgres from 'postgres';
import type { ClientConfig } from 'pg';
import { CliError, ExitCode } from '../errors.js';
import { addCleanup } from '../lifecycle.js';
import { log } from '../log.js';
import { startCluster, stopCluster } from './cluster.js';
import { EMBEDDED_DATABASE, embeddedConfig, psqlCommand } from './embedded.js';
import { redact } from './redact.js';
import { describeTarget, resolveTarget, type PostgresTarget, type Target } from './target.js';

export interface Database {
  sql: postgres.Sql;
  target: PostgresTarget;
  /** user@host:port/database, never with the password. */
  label: string;
  /** For the embedded default: how to reach it with psql. */
  psql?: string;
  /** For servers cowrie-db runs itself: where extension files go (pgTAP). */
  extensionDir?: string;
  /** Opens another connection pool to the same database (e.g. a dedicated one for CALL). */
  connect(options?: ConnectOptions): postgres.Sql;
  close(): Promise<void>;
}

export interface ConnectOptions {
  max?: number;
  onnotice?: (notice: postgres.Notice) => void;
  /** Session settings sent at connection start (statement_timeout, ...). */
  settings?: Record<string, string>;
}

function sslOption(t: PostgresTarget): postgres.Options<Record<string, never>>['ssl'] {
  const mode = t.params.sslmode;
  if (!mode || mode === 'disable') return false;
  if (mode === 'prefer' || mode === 'allow') return 'prefer';
  if (mode === 'require') return 'require';
  return 'verify-full';
}

export function logNotice(notice: postgres.Notice): void {
  log.info(`${notice.severity ?? 'NOTICE'}: ${notice.message}`);
}

export function clientFor(t: PostgresTarget, options: ConnectOptions = {}): postgres.Sql {
  return postgres({
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    ssl: sslOption(t),
    max: options.max ?? 2,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: options.onnotice ?? logNotice,
    connection: { application_name: 'cowrie-db', ...(options.settings ?? {}) },
  });
}

/** node-postgres configuration for node-pg-migrate. */
export function pgClientConfig(t: PostgresTarget): ClientConfig {
  const mode = t.params.sslmode;
  return {
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    ssl: !mode || mode === 'disable' || mode === 'prefer' || mode === 'allow' ? false : { rejectUnauthorized: mode === 'verify-full' || mode === 'verify-ca' },
    application_name: 'cowrie-db',
  };
}

function connectionFailure(t: PostgresTarget, err: unknown): CliError {
  const e = err as { code?: string; message?: string };
  const reason = (() => {
    switch (e.code) {
      case 'ECONNREFUSED': return 'connection refused (is the server running and listening on that port?)';
      case 'ENOTFOUND': case 'EAI_AGAIN': return 'host name not found';
      case 'ETIMEDOUT': case 'CONNECT_TIMEOUT': return 'connection timed out';
      case '28P01': return 'password authentication failed';
      case '28000': return 'no pg_hba.conf entry or role not allowed';
      case '3D000': return 'database does not exist';
      default: return e.message ?? String(err);
    }
  })();
  return new CliError(redact(`cannot connect to PostgreSQL at ${t.host}:${t.port}, database "${t.database}" as "${t.user}": ${reason}`), ExitCode.couldNotRun);
}

/** Connects and proves the connection works with a first query. */
export async function connectTarget(t: PostgresTarget, options: ConnectOptions = {}): Promise<postgres.Sql> {
  const sql = clientFor(t, options);
  try {
    await sql`select 1`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    throw connectionFailure(t, err);
  }
  return sql;
}

async function embeddedTarget(): Promise<{ target: PostgresTarget; psql: string; extensionDir: string }> {
  const config = await embeddedConfig();
  log.verbose(`embedded PostgreSQL 17 in ${config.home}`);
  const { port, startedHere } = await startCluster(config.cluster);
  if (startedHere) {
    log.verbose(`started embedded PostgreSQL on 127.0.0.1:${port}`);
    addCleanup(async () => {
      await stopCluster(config.cluster);
      log.verbose('stopped embedded PostgreSQL');
    });
  }
  const base: PostgresTarget = {
    kind: 'postgres', host: '127.0.0.1', port, user: config.cluster.superuser,
    password: config.cluster.password, database: 'postgres', params: {}, source: 'embedded',
  };
  const admin = await connectTarget(base);
  try {
    const [row] = await admin`select count(*)::int as n from pg_database where datname = ${EMBEDDED_DATABASE}`;
    if (row?.n === 0) await admin.unsafe(`create database ${EMBEDDED_DATABASE}`);
  } finally {
    await admin.end();
  }
  return {
    target: { ...base, database: EMBEDDED_DATABASE },
    psql: psqlCommand(config, port),
    extensionDir: join(dirname(config.cluster.binDir), 'share', 'postgresql', 'extension'),
  };
}

export async function openTarget(target: Target): Promise<Database> {
  if (target.kind === 'sqlite') {
    // Loaded only here: the native SQLite module is needed only for sqlite targets.
    const { sqliteUnsupported } = await import('../sqlite/open.js');
    throw sqliteUnsupported(`cowrie-db ${process.argv[2] ?? 'this command'}`, target.path);
  }
  const { target: pg, psql, extensionDir } =
    target.kind === 'embedded' ? await embeddedTarget() : { target, psql: undefined, extensionDir: undefined };
  const sql = await connectTarget(pg);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await sql.end({ timeout: 5 });
  };
  addCleanup(close);
  return { sql, target: pg, label: describeTarget(pg), psql, extensionDir, connect: (o) => clientFor(pg, o), close };
}

/** Resolve --db / env and open it. */
export async function openDatabase(dbFlag: string | undefined): Promise<Database> {
  return openTarget(resolveTarget(dbFlag));
}
