// Decides which database a command talks to: --db, else DATABASE_URL, else the
// libpq PG* variables, else the embedded PostgreSQL 17 that cowrie-db runs itself.
// A password missing from all of them comes from $PGPASSFILE or ~/.pgpass.
import { z } from 'zod';
import { usageError } from '../errors.js';
import { pgpassPassword } from './pgpass.js';

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

const portSchema = z.string().regex(/^\d{1,5}$/).transform(Number).pipe(z.number().int().min(1).max(65535));

/** libpq's sslmode values (https://www.postgresql.org/docs/current/libpq-ssl.html). */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/**
 * libpq connection parameters that the environment supplies when the URL does not
 * (libpq reads PGSSLMODE etc. as defaults for every connection string).
 */
const ENV_PARAMS: Record<string, string> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
};

/** percent-decoding of one URL component; a malformed escape is a usage error naming the component. */
function decode(component: string, what: string, where: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    throw usageError(`${where}: the URL's ${what} has a malformed percent-escape (a % must be followed by two hex digits; write a literal % as %25)`);
  }
}

/** The parameters from the environment where the URL gave none, and a check of sslmode. */
function withEnvParams(params: Record<string, string>, env: NodeJS.ProcessEnv, where: string): Record<string, string> {
  const out = { ...params };
  for (const [key, variable] of Object.entries(ENV_PARAMS)) {
    if (out[key] === undefined && env[variable]) out[key] = env[variable]!;
  }
  if (out.sslmode !== undefined && !(SSL_MODES as readonly string[]).includes(out.sslmode)) {
    throw usageError(`${where}: sslmode must be one of ${SSL_MODES.join(', ')} (got '${out.sslmode}')`);
  }
  return out;
}

// Hand-written on WHATWG URL, not `pg-connection-string` (2.14, pg's dependency): measured on
// the cases of test/target.test.ts it accepts `not a url` (resolved against a dummy base: host
// "base"), `mysql://`, and `p%zz` (silently literal), throws a bare "URI malformed" for `d%e0`
// and ENOENT while parsing when sslrootcert names a missing file (it reads the certificates),
// lets ?password= override the URL's password, leaves `%2F` encoded in a database name, and
// emits a process warning for sslmode=prefer/require/verify-ca.
function parseUrl(raw: string, source: 'flag' | 'DATABASE_URL', env: NodeJS.ProcessEnv): PostgresTarget | SqliteTarget {
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
  const password = url.password ? decode(url.password, 'password', where) : undefined;
  const port = url.port ? portSchema.safeParse(url.port) : { success: true as const, data: 5432 };
  if (!port.success) throw usageError(`${where}: port must be 1-65535`);
  // The query string: URLSearchParams decodes leniently; decode the raw text strictly instead.
  const query: Record<string, string> = {};
  for (const pair of url.search.replace(/^\?/, '').split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = decode((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' '), 'query string', where);
    query[key] = decode((eq < 0 ? '' : pair.slice(eq + 1)).replace(/\+/g, ' '), 'query string', where);
  }
  const { password: queryPassword, ...rest } = query;
  const params = withEnvParams(rest, env, where);
  return {
    kind: 'postgres',
    host: decode(url.hostname, 'host', where) || params.host || 'localhost',
    port: port.data,
    user: decode(url.username, 'user name', where) || env.PGUSER || 'postgres',
    password: password ?? queryPassword,
    database: decode(url.pathname.replace(/^\//, ''), 'database name', where) || 'postgres',
    params,
    source,
  };
}

function fromPgEnvironment(env: NodeJS.ProcessEnv): PostgresTarget {
  const port = portSchema.safeParse(env.PGPORT ?? '5432');
  if (!port.success) throw usageError('PGPORT must be a port number 1-65535');
  const user = env.PGUSER || env.USER || 'postgres';
  return {
    kind: 'postgres',
    host: env.PGHOST || env.PGHOSTADDR || 'localhost',
    port: port.data,
    user,
    password: env.PGPASSWORD || undefined,
    database: env.PGDATABASE || user,
    params: withEnvParams({}, env, 'the PG* environment'),
    source: 'PG environment',
  };
}

/** A target without a password gets the password file's, as libpq would. */
function withPgpass(t: PostgresTarget | SqliteTarget, env: NodeJS.ProcessEnv): PostgresTarget | SqliteTarget {
  if (t.kind !== 'postgres' || t.password !== undefined) return t;
  // libpq: the URL's password, else PGPASSWORD, else the password file.
  const password = env.PGPASSWORD || pgpassPassword(t, env);
  return password === undefined ? t : { ...t, password };
}

export function resolveTarget(dbFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): Target {
  if (dbFlag !== undefined) {
    if (dbFlag.trim() === '') throw usageError('--db: empty value');
    return withPgpass(parseUrl(dbFlag, 'flag', env), env);
  }
  if (env.DATABASE_URL) return withPgpass(parseUrl(env.DATABASE_URL, 'DATABASE_URL', env), env);
  if (PG_ENV_KEYS.some((k) => env[k])) return withPgpass(fromPgEnvironment(env), env);
  return { kind: 'embedded' };
}

/** host:port/database as user — for messages; never includes the password. */
export function describeTarget(t: PostgresTarget): string {
  return `${t.user}@${t.host}:${t.port}/${t.database}`;
}

/**
 * A URL for the target without its password (safe to print): user, host, port,
 * database and every other connection parameter it was given (sslmode, sslrootcert, ...),
 * so that a printed command connects the same way.
 */
export function displayUrl(t: PostgresTarget): string {
  const query = Object.entries(t.params)
    .filter(([k]) => k !== 'password')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  const host = t.host.includes(':') ? `[${t.host}]` : encodeURIComponent(t.host);
  return `postgresql://${encodeURIComponent(t.user)}@${host}:${t.port}/${encodeURIComponent(t.database)}${query ? `?${query}` : ''}`;
}
