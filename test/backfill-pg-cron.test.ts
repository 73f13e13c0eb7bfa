// The fill on a schedule, the PostgreSQL way: pg_cron runs
//   CALL backfill_snapshots(quiet => true)
// every minute on a PostgreSQL 15 cluster started with shared_preload_libraries =
// 'pg_cron' (Debian's postgresql-15-cron; there is no postgresql-17-cron for the
// embedded PostgreSQL 17, so this runs on PostgreSQL 15 only). While application-style
// traffic goes on (counter updates, new sessions), new sessions -- some whose IP is
// in ip_inventory, some waiting for an inventory row that is added after them -- must
// be filled within two minutes; cron.job_run_details shows the runs as succeeded
// ('CALL'), backfill_runs shows them started by pg_cron, never two at once.
// A manual run that holds the backfill across a tick makes that tick fail with the
// procedure's "already running" error, in cron.job_run_details.
import { existsSync, mkdtempSync, rmSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureInitialised, serverUserIds, startCluster, stopCluster, type ClusterSpec } from '../src/db/cluster.js';
import { clientFor, openTarget, type Database } from '../src/db/connect.js';
import { migrateUp } from '../src/db/migrate.js';
import type { PostgresTarget } from '../src/db/target.js';
import { seedInto, waitFor } from './backfill-cli.helpers.js';
import { insertCopies } from './backfill-incremental.helpers.js';

const PG15 = '/usr/lib/postgresql/15/bin';
const hasCron = existsSync(join(PG15, 'postgres')) && existsSync('/usr/lib/postgresql/15/lib/pg_cron.so');
if (!hasCron && process.env.CI) throw new Error('pg_cron for PostgreSQL 15 is missing: apt-get install postgresql-15-cron');
const PASSWORD = 'cron-harness-pw';

describe.runIf(hasCron)('pg_cron schedules backfill_snapshots (PostgreSQL 15)', () => {
  let root: string;
  let spec: ClusterSpec;
  let port: number;
  let db: Database;
  let sql: postgres.Sql;
  let admin: postgres.Sql;
  const target = (database: string): PostgresTarget => ({
    kind: 'postgres', host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database, params: {}, source: 'flag',
  });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'cowrie-db-cron-'));
    chmodSync(root, 0o711);
    const runDir = join(root, 'run');
    spec = {
      binDir: PG15, dataDir: join(root, 'data'), runDir, superuser: 'postgres', password: PASSWORD, preferredPort: 0,
      osUser: 'cowriedb',
      settings: { shared_preload_libraries: 'pg_cron', 'cron.database_name': 'postgres', 'cron.host': runDir },
    };
    await ensureInitialised(spec);
    // pg_cron's own connections: over the cluster's unix socket (its directory is the
    // server user's, mode 0700), trusted for the superuser only. TCP keeps its password.
    const hba = join(spec.dataDir, 'pg_hba.conf');
    writeFileSync(hba, `local all postgres trust\n${readFileSync(hba, 'utf8')}`);
    const ids = await serverUserIds(spec);
    if (ids) (await import('node:fs')).chownSync(hba, ids.uid, ids.gid);
    ({ port } = await startCluster(spec));
    admin = clientFor(target('postgres'), { max: 1, onnotice: () => undefined });
    await admin`create database cowrie`;
    await admin`create extension pg_cron`;
    db = await openTarget(target('cowrie'));
    await migrateUp(db);
    await seedInto(db.sql, db, 1500);
    sql = clientFor(target('cowrie'), { max: 4, onnotice: () => undefined });
    const c = clientFor(target('cowrie'), { max: 1, onnotice: () => undefined });
    await c.unsafe('CALL backfill_snapshots(quiet => true)');
    await c.end();
  });

  afterAll(async () => {
    await admin?.unsafe(`select cron.unschedule(jobid) from cron.job`).catch(() => undefined);
    await sql?.end({ timeout: 5 });
    await db?.close();
    await admin?.end({ timeout: 5 });
    if (spec) await stopCluster(spec).catch(() => undefined);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('new sessions are filled within two minutes while the application writes; runs succeed, one at a time', async () => {
    const [{ id: before }] = (await sql`select coalesce(max(run_id), 0)::int as id from backfill_runs`) as unknown as [{ id: number }];
    const [job] = await admin`select cron.schedule_in_database('cowrie-snapshots', '* * * * *',
                                'CALL backfill_snapshots(quiet => true)', 'cowrie') as jobid`;
    const jobId = Number(job!.jobid);

    // application-style traffic: counter updates on random sessions, a trickle of new ones
    let stop = false;
    const errors: string[] = [];
    const app = async (w: number): Promise<void> => {
      const a = clientFor(target('cowrie'), { max: 1, onnotice: () => undefined });
      try {
        for (let k = 0; !stop; k++) {
          try {
            if (k % 10 === 0) await insertCopies(a, `app${w}_${k}_`, 2, (k * 13) % 1000, new Date().toISOString());
            else await a`update session_summaries set event_count = event_count + 1, updated_at = now()
                          where session_id = (select session_id from session_summaries offset floor(random() * 1400) limit 1)`;
          } catch (err) {
            errors.push((err as Error).message);
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await a.end();
      }
    };
    const workers = [app(1), app(2)];

    // new sessions: copies of sessions whose IP is in ip_inventory, and sessions of a new IP
    // (not in ip_inventory yet) whose inventory row is added after them
    const t0 = Date.now();
    const fresh = await insertCopies(sql, 'cron_', 100, 0, new Date().toISOString());
    const ip = '198.51.100.77';
    const waiting = await sql`
      insert into session_summaries (session_id, first_event_at, last_event_at, enrichment, created_at, updated_at)
      select 'cronwait_' || g, now() - interval '1 hour', now(), json_build_object('session', json_build_object(${ip}::text,
               json_build_object('dshield', json_build_object('ip', json_build_object('as', 64500, 'ascountry', 'NL'))))), now(), now()
        from generate_series(1, 5) g
      returning session_id`;
    const waitIds = waiting.map((r) => String(r.session_id));
    await new Promise((r) => setTimeout(r, 500));
    await sql`insert into ip_inventory (ip_address, first_seen, last_seen, enrichment)
              values (${ip}, now(), now(), '{"maxmind": {"country": "NL"}, "spur": {"client": {"types": ["VPN"]}}}')`;

    const ids = [...fresh, ...waitIds];
    const undecided = async (): Promise<number> => {
      const [r] = await sql`
        select count(*)::int as n from session_summaries s
         cross join lateral backfill_snapshot_source(s.enrichment, s.first_event_at, s.created_at) src
         where s.session_id = any(${ids}) and src.reject_reason is null
           and ((s.source_ip is null and src.new_source_ip is not null) or (s.snapshot_country is null and src.new_snapshot_country is not null)
                or (s.snapshot_ip_type is null and src.new_snapshot_ip_type is not null) or (s.snapshot_asn is null and src.new_snapshot_asn is not null)
                or (s.enrichment_at is null and src.new_enrichment_at is not null))`;
      return Number(r!.n);
    };
    expect(await undecided()).toBeGreaterThan(90); // they do need a fill
    await waitFor(async () => (await undecided()) === 0, 125_000, 'pg_cron to fill the new sessions');
    const elapsed = Date.now() - t0;
    stop = true;
    await Promise.all(workers);
    expect(errors).toEqual([]);
    expect(elapsed).toBeLessThan(120_000);

    const [w] = await sql`select count(*) filter (where source_ip = ${ip} and snapshot_country = 'NL' and snapshot_asn = 64500
                                                  and snapshot_ip_type = 'VPN')::int as n
                            from session_summaries where session_id = any(${waitIds})`;
    expect(w!.n).toBe(5);

    // what cron recorded: succeeded CALLs; the runs pg_cron started, one at a time
    // (a CALL with INOUT parameters returns one row: pg_cron records '1 row'). The CALL
    // that filled them may still be finishing (its last batch committed first).
    await waitFor(async () => (await admin`select count(*)::int as n from cron.job_run_details
                                            where jobid = ${jobId} and status in ('succeeded', 'failed')`)[0]!.n > 0,
                  30_000, 'the cron run to finish');
    const details = await admin`select status, return_message, job_pid from cron.job_run_details where jobid = ${jobId} order by runid`;
    expect(details.length).toBeGreaterThan(0);
    const ok = details.filter((d) => d.status === 'succeeded');
    expect(ok.length).toBeGreaterThan(0);
    for (const d of ok) expect(d.return_message).toBe('1 row');
    const runs = await sql`select run_id, status, started_at, finished_at, params->>'application_name' as app, (params->>'pid')::int as pid
                             from backfill_runs where run_id > ${before} and not dry_run order by run_id`;
    expect(runs.length).toBeGreaterThan(0);
    for (const r of runs) expect(r.app).toBe('pg_cron');
    // each backfill run is the CALL of one cron run (job_pid = the backend that ran it)
    for (const r of runs.filter((x) => x.status === 'completed')) expect(ok.map((d) => Number(d.job_pid))).toContain(Number(r.pid));
    const fin = runs.filter((r) => r.finished_at !== null);
    for (let i = 1; i < fin.length; i++) expect(new Date(fin[i]!.started_at).getTime()).toBeGreaterThanOrEqual(new Date(fin[i - 1]!.finished_at).getTime());
    await admin`select cron.unschedule(${jobId}::bigint)`;
  });
});
