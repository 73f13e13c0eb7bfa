// Decides which database a command talks to: --db, else DATABASE_URL, else the
// libpq PG* variables, else the embedded PostgreSQL 17 that cowrie-db runs itself.
// A password missing from all of them comes from $PGPASSFILE or ~/.pgpass.
import { z } from 'zod';
import { usageError } from '../errors.js';
import { pgpassPassword } from './pgpass.js';
import { registerSecret } from './redact.js';

export interface PostgresTarget {
  kind: 'postgres';
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /** Extra libpq-style parameters from the URL (sslmode, ...). */
  params: Record<string, string>;
  source: 'flag' | 'DATABASE_URL' | 'PG environment' | 'embedded';
}

export interface SqliteTarget {
  kind: 'sqlite';
  path: string;
  source: 'flag' | 'DATABASE_URL';
}

export interface EmbeddedTarget {
  kind: 'embedded';
}

export type Target = PostgresTarget | SqliteTarget | EmbeddedTarget;

const PG_ENV_KEYS = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'PGSERVICE'];

const portSchema = z.coerce.number().int().min(1).max(65535);

function parseUrl(raw: string, source: 'flag' | 'DATABASE_URL'): PostgresTarget | SqliteTarget {
  const where = source === 'flag' ? '--db' : 'DATABASE_URL';
  if (/^sqlite:/i.test(raw)) {
    // SQLAlchemy's forms, as in the users' runbooks: sqlite:///relative.db and
    // sqlite:////absolute.db; also the short sqlite:<path>.
    const path = raw.replace(/^sqlite:(\/\/\/?)?/i, '');
    if (!path) throw usageError(`${where}: a sqlite URL needs a file path, e.g. sqlite:./cowrie.sqlite`);
    return { kind: 'sqlite', path, source };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`${where}: not a database URL (expected postgresql://user@host:port/db or sqlite:<path>)`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw usageError(
      `${where}: unsupported scheme '${url.protocol}' (expected postgresql://, postgres:// or sqlite:<path>)`,
    );
  }
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  registerSecret(password);
  const port = url.port ? portSchema.safeParse(url.port) : { success: true as const, data: 5432 };
  if (!port.success) throw usageError(`${where}: port must be 1-65535`);
  const params: Record<string, string> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  if (params.password) {
    registerSecret(params.password);
  }
  return {
    kind: 'postgres',
    host: decodeURIComponent(url.hostname) || params.host || 'localhost',
    port: port.data,
    user: decodeURIComponent(url.username) || process.env.PGUSER || 'postgres',
    password: password ?? params.password,
    database: decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres',
    params,
    source,
  };
}

function fromPgEnvironment(env: NodeJS.ProcessEnv): PostgresTarget {
  const port = portSchema.safeParse(env.PGPORT ?? 5432);
  if (!port.success) throw usageError('PGPORT must be a port number 1-65535');
  registerSecret(env.PGPASSWORD);
  const user = env.PGUSER || env.USER || 'postgres';
  return {
    kind: 'postgres',
    host: env.PGHOST || env.PGHOSTADDR || 'localhost',
    port: port.data,
    user,
    password: env.PGPASSWORD || undefined,
    database: env.PGDATABASE || user,
    params: env.PGSSLMODE ? { sslmode: env.PGSSLMODE } : {},
    source: 'PG environment',
  };
}

/** A target without a password gets the password file's, as libpq would. */
function withPgpass(t: PostgresTarget | SqliteTarget, env: NodeJS.ProcessEnv): PostgresTarget | SqliteTarget {
  if (t.kind !== 'postgres' || t.password !== undefined) return t;
  const password = pgpassPassword(t, env);
  registerSecret(password);
  return password === undefined ? t : { ...t, password };
}

export function resolveTarget(dbFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): Target {
  if (dbFlag !== undefined) {
    if (dbFlag.trim() === '') throw usageError('--db: empty value');
    return withPgpass(parseUrl(dbFlag, 'flag'), env);
  }
  if (env.DATABASE_URL) return withPgpass(parseUrl(env.DATABASE_URL, 'DATABASE_URL'), env);
  if (PG_ENV_KEYS.some((k) => env[k])) return withPgpass(fromPgEnvironment(env), env);
  return { kind: 'embedded' };
}

/** host:port/database as user — for messages; never includes the password. */
export function describeTarget(t: PostgresTarget): string {
  return `${t.user}@${t.host}:${t.port}/${t.database}`;
}

/** A URL for the target without its password (safe to print). */
export function displayUrl(t: PostgresTarget): string {
  return `postgresql://${encodeURIComponent(t.user)}@${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}/${encodeURIComponent(t.database)}`;
}
