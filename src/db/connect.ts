// Opens the target database with the `postgres` client. For the embedded default
// it starts the server first (and stops it at exit if this process started it).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import postgres from 'postgres';
import type { ClientConfig } from 'pg';
import { CliError, ExitCode, errorMessage } from '../errors.js';
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
  /** Whether the connection is TLS (sslmode prefer/allow settle this only when connecting). */
  tls?: boolean;
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

/** A file a connection parameter names (sslrootcert, sslcert, sslkey); unreadable: a clean error. */
function readParamFile(t: PostgresTarget, key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CliError(`cannot read the ${key} file ${path} for ${describeTarget(t)}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, ExitCode.couldNotRun);
  }
}

/**
 * TLS as libpq does it (https://www.postgresql.org/docs/current/libpq-ssl.html):
 * sslmode `prefer` by default (TLS when the server offers it, else plain), `disable`,
 * `allow` (treated as prefer), `require` (TLS, no certificate check, unless a root
 * certificate is given: then as verify-ca), `verify-ca` (the chain up to sslrootcert),
 * `verify-full` (also the host name). sslrootcert defaults to ~/.postgresql/root.crt
 * when that exists; `system` means the system's CAs. Never over a Unix socket.
 * 'prefer' / false / TLS options for the `postgres` client.
 */
export function tlsOptions(t: PostgresTarget): 'prefer' | false | ConnectionOptions {
  const mode = t.params.sslmode ?? 'prefer';
  if (mode === 'disable' || t.host.startsWith('/')) return false;
  const defaultRoot = join(homedir(), '.postgresql', 'root.crt');
  const rootcert = t.params.sslrootcert ?? (mode.startsWith('verify') ? defaultRoot : undefined);
  const verify = mode === 'verify-ca' || mode === 'verify-full' || (mode === 'require' && t.params.sslrootcert !== undefined);
  if (!verify && (mode === 'prefer' || mode === 'allow') && !t.params.sslcert) return 'prefer';
  const options: ConnectionOptions = { rejectUnauthorized: verify };
  if (verify && rootcert && rootcert !== 'system') options.ca = readParamFile(t, 'sslrootcert', rootcert);
  if (t.params.sslcert) options.cert = readParamFile(t, 'sslcert', t.params.sslcert);
  if (t.params.sslkey) options.key = readParamFile(t, 'sslkey', t.params.sslkey);
  if (!isIP(t.host)) options.servername = t.host;
  // verify-ca checks the chain only; verify-full also that the certificate names this host.
  options.checkServerIdentity = mode === 'verify-full' ? (_host, cert) => checkServerIdentity(t.host, cert) : () => undefined;
  return options;
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
    ssl: tlsOptions(t) as postgres.Options<Record<string, never>>['ssl'],
    max: options.max ?? 2,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: options.onnotice ?? logNotice,
    connection: { application_name: 'cowrie-db', ...(options.settings ?? {}) },
  });
}

/**
 * node-postgres configuration for node-pg-migrate. node-postgres has no `prefer`:
 * `tlsInUse` (what the `postgres` client settled on) decides it.
 */
export function pgClientConfig(t: PostgresTarget, tlsInUse = false): ClientConfig {
  const tls = tlsOptions(t);
  return {
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    ssl: tls === 'prefer' ? (tlsInUse ? { rejectUnauthorized: false } : false) : tls,
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
      case 'DEPTH_ZERO_SELF_SIGNED_CERT': case 'SELF_SIGNED_CERT_IN_CHAIN': case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY': case 'CERT_HAS_EXPIRED': case 'ERR_TLS_CERT_ALTNAME_INVALID':
        return `the server's TLS certificate is not accepted with sslmode=${t.params.sslmode ?? 'prefer'} (${e.code}: ${e.message ?? ''})`;
      default:
        if (/TLS|SSL|secure/i.test(e.message ?? '') && t.params.sslmode && !['disable', 'allow', 'prefer'].includes(t.params.sslmode)) {
          return `no TLS connection (sslmode=${t.params.sslmode} requires one; does the server have ssl = on?): ${e.message}`;
        }
        return e.message ?? String(err);
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
  const [ssl] = await sql`select coalesce(s.ssl, false) as on, s.version from (select 1) x left join pg_stat_ssl s on s.pid = pg_backend_pid()`
    .catch(() => [{ on: false, version: null }]);
  log.verbose(`connection: ${ssl?.on ? `TLS (${String(ssl.version)})` : 'no TLS'}, sslmode=${pg.params.sslmode ?? 'prefer'}`);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await sql.end({ timeout: 5 });
  };
  addCleanup(close);
  return { sql, target: pg, label: describeTarget(pg), psql, tls: Boolean(ssl?.on), extensionDir, connect: (o) => clientFor(pg, o), close };
}

/** Resolve --db / env and open it. */
export async function openDatabase(dbFlag: string | undefined): Promise<Database> {
  return openTarget(resolveTarget(dbFlag));
}
