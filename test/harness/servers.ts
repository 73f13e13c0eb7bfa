// What a test file uses: the running servers, fresh databases on them, and the CLI.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import postgres from 'postgres';
import { inject } from 'vitest';
import { clientFor, openTarget, type Database } from '../../src/db/connect.js';
import { migrateUp } from '../../src/db/migrate.js';
import { packageRoot } from '../../src/db/sqlfiles.js';
import type { PostgresTarget } from '../../src/db/target.js';

export interface TestServer {
  name: string;
  version: number;
  host: string;
  port: number;
  user: string;
  password: string;
  extensionDir: string;
  binDir: string;
  /** The server runs with ssl = on; this self-signed certificate (CN localhost, SAN 127.0.0.1) is its own root. */
  tlsRootCert: string;
}

export function testServers(): TestServer[] {
  return inject('servers');
}

export interface TestDatabase {
  name: string;
  /** postgresql:// URL including the password (for --db in CLI tests). */
  url: string;
  target: PostgresTarget;
  /** A `postgres` client on this database. */
  sql: postgres.Sql;
  /** The runner's Database handle (what commands use). */
  db: Database;
  drop(): Promise<void>;
}

let counter = 0;

/** What freshDatabase needs of a server: a shared test server, or one of a replica pair (replica.ts). */
export type DatabaseServer = Pick<TestServer, 'host' | 'port' | 'user' | 'password' | 'extensionDir'>;

function serverTarget(server: DatabaseServer, database: string): PostgresTarget {
  return { kind: 'postgres', host: server.host, port: server.port, user: server.user, password: server.password, database, params: {}, source: 'flag' };
}

/** A new empty database on `server`; migrated (schema + functions + views) unless told otherwise. */
export async function freshDatabase(server: DatabaseServer, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `t_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const admin = clientFor(serverTarget(server, 'postgres'), { max: 1 });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const target = serverTarget(server, name);
  const db = await openTarget(target);
  db.extensionDir = server.extensionDir;
  if (options.migrate !== false) await migrateUp(db);
  const sql = clientFor(target, { max: 4, onnotice: () => undefined });
  return {
    name,
    url: `postgresql://${server.user}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/${name}`,
    target,
    sql,
    db,
    async drop() {
      await sql.end({ timeout: 5 });
      await db.close();
      const a = clientFor(serverTarget(server, 'postgres'), { max: 1 });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export const cliPath = join(packageRoot, 'dist', 'runner.js');

/** Runs the built CLI (npm test builds first) and collects its output. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
    delete env.DATABASE_URL;
    if (options.env?.DATABASE_URL) env.DATABASE_URL = options.env.DATABASE_URL;
    const child = spawn(process.execPath, [cliPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
