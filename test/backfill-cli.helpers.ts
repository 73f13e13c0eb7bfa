// Shared by the backfill CLI tests: seeded databases, a CLI child process that can
// be signalled, and a fingerprint of the snapshot columns to compare final tables.
import { spawn, type ChildProcess } from 'node:child_process';
import { installObjects } from '../src/db/migrate.js';
import type postgres from 'postgres';
import { cliPath, freshDatabase, type CliResult, type TestDatabase, type TestServer } from './harness/servers.js';

export const SEED = 7;

/** A migrated database with `sessions` deterministic synthetic sessions (sql/seed). */
export async function seededDatabase(server: TestServer, sessions: number): Promise<TestDatabase> {
  const t = await freshDatabase(server);
  await seedInto(t.db.sql, t.db, sessions);
  return t;
}

export async function seedInto(sql: postgres.Sql, db: Parameters<typeof installObjects>[0], sessions: number): Promise<void> {
  await installObjects(db, 'seed');
  await sql.begin(async (tx) => {
    await tx`select * from seed_generate(${sessions}, ${SEED})`;
  });
}

/** md5 of every session's snapshot columns, in key order. */
export async function snapshotFingerprint(sql: postgres.Sql): Promise<{ md5: string; filled: number }> {
  const [row] = await sql`
    select md5(coalesce(string_agg(concat_ws('|', session_id, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type,
                                             extract(epoch from enrichment_at)), E'\\n' order by session_id), '')) as md5,
           count(*) filter (where source_ip is not null or snapshot_country is not null)::int as filled
      from session_summaries`;
  return { md5: String(row!.md5), filled: Number(row!.filled) };
}

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  done: Promise<CliResult>;
}

/** Starts the built CLI without waiting (so that a test can signal it). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
  delete e.DATABASE_URL;
  const child = spawn(process.execPath, [cliPath, ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  return { child, stdout: () => out, stderr: () => err, done };
}

/** Polls until `check` is true (or fails after timeoutMs). */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 60_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runRow(sql: postgres.Sql, runId?: number): Promise<Record<string, unknown> | undefined> {
  const rows = runId === undefined
    ? await sql`select * from backfill_runs where not dry_run order by run_id desc limit 1`
    : await sql`select * from backfill_runs where run_id = ${runId}`;
  return rows[0];
}

export async function batchesDone(sql: postgres.Sql): Promise<number> {
  const [row] = await sql`select coalesce(max(batches), 0)::int as n from backfill_runs where not dry_run`;
  return Number(row?.n ?? 0);
}
