// The backfill runner when the database server goes away mid-run: a restart is
// ridden out (retry with back-off, then resume), a longer outage ends with a clear
// message and exit 3, and the next run resumes. The shared harness servers must not
// be stopped, so each server version gets a throwaway cluster of its own here.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFor, openTarget } from '../src/db/connect.js';
import { startCluster, stopCluster, type ClusterSpec } from '../src/db/cluster.js';
import { migrateUp } from '../src/db/migrate.js';
import type { PostgresTarget } from '../src/db/target.js';
import { runCli, testServers } from './harness/servers.js';
import { seedInto, snapshotFingerprint, startCli, waitFor } from './backfill-cli.helpers.js';

const PASSWORD = 'Restart-S3cret-pw';
const SESSIONS = 3000;

describe.each(testServers())('backfill across a server restart on $name', (server) => {
  let root: string;
  let spec: ClusterSpec;
  let port: number;
  const target = (database: string): PostgresTarget => ({
    kind: 'postgres', host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database, params: {}, source: 'flag',
  });
  const url = (database: string): string => `postgresql://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`;
  let expected: { md5: string; filled: number };

  /** A seeded database on the throwaway cluster. */
  const seeded = async (name: string): Promise<void> => {
    const admin = clientFor(target('postgres'), { max: 1 });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    const db = await openTarget(target(name));
    await migrateUp(db);
    await seedInto(db.sql, db, SESSIONS);
    await db.close();
  };

  /** Reads the run's batch count; false while the server is away. */
  const batches = async (name: string): Promise<number> => {
    const sql = postgres({ host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database: name, max: 1, onnotice: () => undefined, connect_timeout: 2 });
    try {
      const [r] = await sql`select coalesce(max(batches), 0)::int as n from backfill_runs`;
      return Number(r?.n ?? 0);
    } catch {
      return -1;
    } finally {
      await sql.end({ timeout: 1 });
    }
  };

  const fingerprint = async (name: string): Promise<{ md5: string; filled: number }> => {
    const sql = clientFor(target(name), { max: 1, onnotice: () => undefined });
    try {
      return await snapshotFingerprint(sql);
    } finally {
      await sql.end();
    }
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'cowrie-bf-restart-'));
    chmodSync(root, 0o711);
    spec = {
      binDir: server.binDir, dataDir: join(root, 'data'), runDir: join(root, 'run'),
      superuser: 'postgres', password: PASSWORD, preferredPort: 0, osUser: 'cowriedb',
    };
    ({ port } = await startCluster(spec));
    spec.preferredPort = port; // restart on the same port
    await seeded('reference');
    const ref = await runCli(['backfill', '--db', url('reference'), '--batch-size', '100', '--quiet', '--no-indexes']);
    expect(ref.code).toBe(0);
    expected = await fingerprint('reference');
  });

  afterAll(async () => {
    await stopCluster(spec).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  it('a server restart mid-run is retried with back-off and the run finishes identical', async () => {
    await seeded('restarted');
    const cli = startCli(['backfill', '--db', url('restarted'), '--batch-size', '100', '--pause-ms', '30', '--retries', '10', '--retry-delay-ms', '300', '--json', '--no-indexes']);
    await waitFor(async () => (await batches('restarted')) >= 3, 60_000, 'three batches');
    await stopCluster(spec);
    await new Promise((r) => setTimeout(r, 1000));
    await startCluster(spec);
    const res = await cli.done;
    expect(res.stderr).toMatch(/lost the connection to the database: .*; retry 1\/10 in 0\.3 s/);
    expect(res.code).toBe(0);
    const s = JSON.parse(res.stdout);
    expect(s).toMatchObject({ status: 'completed', stopped: 'completed' });
    expect(s.this_invocation.retries).toBeGreaterThanOrEqual(1);
    expect(await fingerprint('restarted')).toEqual(expected);
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
  });

  it('two workers (--workers 2) across a server restart: both ride it out and the run finishes identical', async () => {
    await seeded('restarted2');
    const cli = startCli(['backfill', '--db', url('restarted2'), '--workers', '2', '--batch-size', '100', '--pause-ms', '30', '--retries', '10', '--retry-delay-ms', '300', '--json', '--no-indexes', '--no-throttle']);
    await waitFor(async () => (await batches('restarted2')) >= 6, 60_000, 'six batches');
    await stopCluster(spec);
    await new Promise((r) => setTimeout(r, 1000));
    await startCluster(spec);
    const res = await cli.done;
    expect(res.code, res.stderr).toBe(0);
    const s = JSON.parse(res.stdout);
    expect(s).toMatchObject({ status: 'completed', stopped: 'completed' });
    expect(await fingerprint('restarted2')).toEqual(expected);
    const sql = clientFor(target('restarted2'), { max: 1, onnotice: () => undefined });
    try {
      const [w] = await sql`select count(distinct (pid, backend_start))::int as n from backfill_workers where run_id = ${s.run_id}`;
      expect(w!.n).toBeGreaterThanOrEqual(3); // two before the restart, new backends after it
      const [g] = await sql`select bool_and(done) as done, count(*)::int as n from backfill_ranges where run_id = ${s.run_id}`;
      expect(g!.done).toBe(true);
      expect(g!.n).toBeGreaterThanOrEqual(8);
    } finally {
      await sql.end();
    }
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
  });

  it('a longer outage ends after the retries with a clear message (exit 3); running again resumes', async () => {
    await seeded('outage');
    const dir = join(root, 'status');
    const cli = startCli(['backfill', '--db', url('outage'), '--batch-size', '100', '--pause-ms', '30', '--retries', '2', '--retry-delay-ms', '200', '--status-dir', dir]);
    await waitFor(async () => (await batches('outage')) >= 3, 60_000, 'three batches');
    await stopCluster(spec);
    const res = await cli.done;
    await startCluster(spec);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/retry 2\/2/);
    expect(res.stderr).toMatch(/error: lost the connection to the database: .* \(gave up after 2 retries\)\. Nothing committed is lost: .* run the same command again to resume\./);
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
    const [file] = readdirSync(dir).filter((f) => f.endsWith('.json'));
    const status = JSON.parse(readFileSync(join(dir, file!), 'utf8'));
    expect(status).toMatchObject({ phase: 'failed' });
    expect(status.last_error).toMatch(/lost the connection/);
    const before = await batches('outage');
    expect(before).toBeGreaterThanOrEqual(3);
    const again = await runCli(['backfill', '--db', url('outage'), '--batch-size', '100', '--json', '--no-indexes', '--status-dir', dir]);
    expect(again.code).toBe(0);
    const s = JSON.parse(again.stdout);
    expect(s.status).toBe('completed');
    expect(s.batches).toBeGreaterThan(before);
    expect(again.stderr).toMatch(/resuming run \d+ \((running|paused|failed)/);
    expect(await fingerprint('outage')).toEqual(expected);
  });
});
