// backfill_throttle_signal(), the database-health check the backfill pauses on, on a
// primary with a streaming standby of its own (test/harness/replica.ts) for every test
// server's binaries. Each signal is made to fire for real and then to clear: replica lag
// (standby replay paused: bytes, then time), WAL rate, a transaction holding back the
// xmin horizon (a REPEATABLE READ snapshot, a prepared transaction; a backend running
// backfill_snapshots does not count), a VACUUM on session_summaries; the order when several
// fire; a role without pg_monitor gets `unmeasured`, not an error; bad arguments get 22023.
// backfill_throttle_defaults() names exactly the function's thresholds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInto, waitFor } from './backfill-cli.helpers.js';
import { startReplicaPair, STANDBY_NAME, type ReplicaPair } from './harness/replica.js';
import { packageRoot } from '../src/db/sqlfiles.js';
import { freshDatabase, testServers, type TestDatabase } from './harness/servers.js';

interface Check {
  signal: string | null;
  reason: string | null;
  wal_lsn: string | null;
  checked_at: Date;
  unmeasured: string[];
}

interface Limits {
  replicaLagMs?: number;
  replicaLagBytes?: number;
  walBytesPerSec?: number;
  xminAgeMs?: number;
  onVacuum?: boolean;
  /** The previous check, for the WAL rate. */
  since?: Check;
}

/** One call; every signal off unless `limits` turns it on. */
async function check(sql: postgres.Sql, limits: Limits = {}): Promise<Check> {
  const rows = await sql<Check[]>`
    select signal, reason, wal_lsn::text as wal_lsn, checked_at, unmeasured
      from backfill_throttle_signal(${limits.replicaLagMs ?? null}::integer, ${limits.replicaLagBytes ?? null}::bigint,
                                    ${limits.walBytesPerSec ?? null}::bigint, ${limits.xminAgeMs ?? null}::integer,
                                    ${limits.onVacuum ?? false}, ${limits.since?.wal_lsn ?? null}::pg_lsn,
                                    ${limits.since?.checked_at ?? null}::timestamptz)`;
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

/** Calls until the check gives `signal` (NULL: healthy); returns that call's row. */
async function checkUntil(sql: postgres.Sql, limits: Limits, signal: string | null, timeoutMs = 60_000): Promise<Check> {
  let last: Check | undefined;
  try {
    await waitFor(async () => {
      last = await check(sql, limits);
      return last.signal === signal;
    }, timeoutMs, `signal ${signal ?? 'NULL'}`);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the last check: ${JSON.stringify(last)}`);
  }
  return last!;
}

/** A client of its own (one connection) on the test database, as `user`. */
function clientOf(t: TestDatabase, user = t.target.user, password = t.target.password): postgres.Sql {
  return postgres({ host: t.target.host, port: t.target.port, user, password, database: t.target.database,
    max: 1, ssl: false, onnotice: () => undefined, connection: { application_name: 'throttle-test' } });
}

async function pidOf(sql: postgres.Sql): Promise<number> {
  const [{ pid }] = (await sql`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
  return pid;
}

/** Writes about `rows` * 250 bytes of table data (and its WAL) on the primary. */
async function writeWal(t: TestDatabase, rows = 20_000): Promise<void> {
  await t.sql`insert into throttle_filler select g, repeat('x', 200) from generate_series(1, ${rows}) g`;
}

const WATCHER = 'throttle_watcher';
const WATCHER_PASSWORD = 'watcher-S3cret-pw';

describe.each(testServers())('backfill_throttle_signal on $name', (server) => {
  let pair: ReplicaPair;
  let t: TestDatabase;
  beforeAll(async () => {
    pair = await startReplicaPair(server);
    t = await freshDatabase(pair.primary);
    await seedInto(t.db.sql, t.db, 1500);
    // autovacuum stays away from session_summaries: the vacuum signal below is the test's VACUUM
    await t.sql`alter table session_summaries set (autovacuum_enabled = off, toast.autovacuum_enabled = off)`;
    await t.sql`create table throttle_filler (id integer, pad text)`;
    await t.sql.unsafe(`create role ${WATCHER} login password '${WATCHER_PASSWORD}'`);
    await pair.waitForReplay();
  });
  afterAll(async () => {
    await t?.drop();
    await pair?.stop();
  });

  it('backfill_throttle_defaults() has one row per threshold of the function, each with a meaning, as the docs show; at rest nothing fires', async () => {
    const defaults = await t.sql<{ parameter: string; default_value: string | null; meaning: string }[]>`
      select parameter, default_value, meaning from backfill_throttle_defaults()`;
    const [{ names }] = (await t.sql`
      select array_agg(substr(n, 3) order by o) filter (where n not like 'p\\_wal\\_from%') as names
        from pg_proc p, unnest(p.proargnames) with ordinality as a(n, o)
       where p.proname = 'backfill_throttle_signal' and p.proargmodes[o] = 'i'`) as unknown as [{ names: string[] }];
    expect(defaults.map((d) => d.parameter)).toEqual(names);
    expect(names).toEqual(['replica_lag_ms', 'replica_lag_bytes', 'wal_bytes_per_sec', 'xmin_age_ms', 'on_vacuum']);
    for (const d of defaults) expect(d.meaning.length).toBeGreaterThan(20);
    const value = (name: string): string | null => defaults.find((d) => d.parameter === name)!.default_value;
    const limits: Limits = {
      replicaLagMs: Number(value('replica_lag_ms')),
      replicaLagBytes: Number(value('replica_lag_bytes')),
      xminAgeMs: Number(value('xmin_age_ms')),
      onVacuum: value('on_vacuum') === 'true',
    };
    expect(value('wal_bytes_per_sec')).toBeNull();
    expect(limits.onVacuum).toBe(true);
    // docs/throttling.md's table of signals shows these defaults
    const docs = readFileSync(join(packageRoot, 'docs', 'throttling.md'), 'utf8');
    for (const d of defaults) {
      const row = docs.split('\n').find((line) => line.includes(`| \`${d.parameter}\` |`));
      expect(row, d.parameter).toBeDefined();
      const shown = row!.split('|').at(-2)!.trim().split(' ')[0];
      expect(shown, d.parameter).toBe(d.default_value === null ? 'off' : d.default_value === 'true' ? 'on' : d.default_value);
    }
    // the docs' query for watching it from psql, with the defaults
    const watch = /```sql\n(SELECT s\.signal[\s\S]*?;)\n```/.exec(docs)?.[1];
    expect(watch).toBeDefined();
    expect(await t.sql.unsafe(watch!)).toEqual([{ signal: null, reason: null, unmeasured: [] }]);
    const first = await check(t.sql, limits);
    expect(first).toMatchObject({ signal: null, reason: null, unmeasured: [] });
    expect(first.wal_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    const [{ ahead }] = (await t.sql`select pg_current_wal_lsn() >= ${first.wal_lsn}::pg_lsn as ahead`) as unknown as [{ ahead: boolean }];
    expect(ahead).toBe(true);
  });

  it('replica_lag: a standby that stopped replaying fires by bytes, then by time; resumed and caught up, it clears', async () => {
    const standby = pair.standby.sql;
    await standby`select pg_wal_replay_pause()`;
    try {
      await waitFor(async () => {
        const [row] = await standby`select pg_get_wal_replay_pause_state() as s`;
        return row?.s === 'paused';
      }, 60_000, 'replay paused');
      await writeWal(t);
      const bytes = await checkUntil(t.sql, { replicaLagBytes: 1024 * 1024 }, 'replica_lag');
      expect(bytes.reason).toMatch(new RegExp(`^standby '${STANDBY_NAME}' \\(127\\.0\\.0\\.1\\) has \\d+ (bytes|kB|MB|GB) of WAL not replayed yet \\(limit 1024 kB\\)$`));
      expect((await check(t.sql, { replicaLagBytes: 1024 ** 4 })).signal).toBeNull();
      // replay_lag grows while the standby reports (every second here) without replaying
      const time = await checkUntil(t.sql, { replicaLagMs: 1500 }, 'replica_lag');
      expect(time.reason).toMatch(new RegExp(`^standby '${STANDBY_NAME}' \\(127\\.0\\.0\\.1\\) replays \\d+\\.\\d s behind \\(limit 1\\.5 s\\)$`));
      expect((await check(t.sql, { replicaLagMs: 3_600_000 })).signal).toBeNull();
      // both on: the time limit is reported first
      expect((await check(t.sql, { replicaLagMs: 1500, replicaLagBytes: 1024 * 1024 })).reason).toMatch(/replays .* behind/);
    } finally {
      await standby`select pg_wal_replay_resume()`;
    }
    await pair.waitForReplay();
    const cleared = await checkUntil(t.sql, { replicaLagMs: 1500, replicaLagBytes: 1024 * 1024 }, null);
    expect(cleared.unmeasured).toEqual([]);
  });

  it('wal_rate: WAL written between two checks fires above a small limit, not below a large one; the first check has no rate', async () => {
    const first = await check(t.sql, { walBytesPerSec: 1 });
    expect(first.signal).toBeNull(); // no previous position yet
    await writeWal(t);
    const second = await check(t.sql, { walBytesPerSec: 1, since: first });
    expect(second.signal).toBe('wal_rate');
    expect(second.reason).toMatch(/^WAL written at \d+ (bytes|kB|MB|GB)\/s over the last \d+\.\d s \(limit 1 bytes\/s\)$/);
    await writeWal(t);
    const third = await check(t.sql, { walBytesPerSec: 1024 ** 4, since: second });
    expect(third.signal).toBeNull();
    // the same interval measured against the small limit fires: the large limit is what cleared it
    expect((await check(t.sql, { walBytesPerSec: 1, since: second })).signal).toBe('wal_rate');
  });

  it('xmin_horizon: a REPEATABLE READ snapshot held open fires above the age limit and clears at COMMIT, also within one transaction of the caller', async () => {
    const holder = clientOf(t);
    const caller = clientOf(t);
    try {
      const holderPid = await pidOf(holder);
      await holder`begin isolation level repeatable read`;
      await holder`select count(*) from session_summaries`;
      const fired = await checkUntil(t.sql, { xminAgeMs: 200 }, 'xmin_horizon');
      expect(fired.reason).toMatch(new RegExp(`^transaction of pid ${holderPid} \\(user 'postgres', application 'throttle-test', idle in transaction\\) `
        + `has been open for \\d+\\.\\d s and holds back the xmin horizon \\(limit 0\\.2 s\\)$`));
      expect((await check(t.sql, { xminAgeMs: 3_600_000 })).signal).toBeNull();
      // the caller checks twice inside one transaction (as a throttled worker sleeping between
      // checks may): the second check sees the COMMIT in between
      await caller`begin`;
      expect((await check(caller, { xminAgeMs: 200 })).signal).toBe('xmin_horizon');
      await holder`commit`;
      expect((await check(caller, { xminAgeMs: 200 })).signal).toBeNull();
      await caller`commit`;
      expect((await check(t.sql, { xminAgeMs: 0 })).signal).toBeNull();
    } finally {
      await holder.end();
      await caller.end();
    }
  });

  it('xmin_horizon: a prepared transaction fires until COMMIT PREPARED', async () => {
    const holder = clientOf(t);
    try {
      await holder`begin`;
      await holder`insert into throttle_filler values (-1, 'prepared')`;
      await holder`prepare transaction 'throttle_test'`;
      const fired = await checkUntil(t.sql, { xminAgeMs: 200 }, 'xmin_horizon');
      expect(fired.reason).toMatch(/^prepared transaction 'throttle_test' \(owner 'postgres'\) was prepared \d+\.\d s ago and holds back the xmin horizon \(limit 0\.2 s\)$/);
    } finally {
      await holder`commit prepared 'throttle_test'`;
      await holder.end();
    }
    expect((await check(t.sql, { xminAgeMs: 200 })).signal).toBeNull();
  });

  it('xmin_horizon: a backend running backfill_snapshots (another worker of the run) does not count', async () => {
    const worker = clientOf(t);
    const workerPid = await pidOf(worker);
    const call = worker.unsafe('CALL backfill_snapshots(batch_size => 50, pause_ms => 3000, quiet => true)').catch((e: unknown) => e);
    try {
      // the worker sleeps between batches inside a transaction that holds a snapshot: older
      // than the limit, it would fire if it counted. Both read in the same statement.
      let row: { signal: string | null; held: number } | undefined;
      await waitFor(async () => {
        [row] = (await t.sql`
          select s.signal,
                 (select count(*) from pg_stat_activity a
                   where a.pid = ${workerPid} and a.backend_xmin is not null
                     and a.xact_start < clock_timestamp() - interval '1 second')::int as held
            from backfill_throttle_signal(null, null, null, 500, false, null, null) s`) as unknown as [typeof row];
        return row!.held === 1;
      }, 60_000, 'the worker to hold a snapshot for over a second');
      expect(row!.signal).toBeNull();
    } finally {
      await t.sql`select pg_cancel_backend(${workerPid})`;
      const outcome = await call;
      expect((outcome as { code?: string }).code).toBe('57014');
      await worker.end();
    }
  });

  it('vacuum: a slow VACUUM of session_summaries fires while it runs (not with on_vacuum false) and clears when it ends', async () => {
    const [{ pages }] = (await t.sql`select pg_relation_size('session_summaries') / 8192 as pages`) as unknown as [{ pages: string }];
    expect(Number(pages)).toBeGreaterThan(30); // at 100-400 ms a page, a VACUUM of many seconds
    const vacuum = clientOf(t);
    const watcher = clientOf(t, WATCHER, WATCHER_PASSWORD);
    const vacuumPid = await pidOf(vacuum);
    await vacuum`set vacuum_cost_delay = '100ms'`;
    await vacuum`set vacuum_cost_limit = 1`;
    const running = vacuum.unsafe('vacuum (disable_page_skipping) session_summaries').catch((e: unknown) => e);
    try {
      const fired = await checkUntil(t.sql, { onVacuum: true }, 'vacuum');
      expect(fired.reason).toMatch(new RegExp(`^a VACUUM is working on session_summaries \\(pid ${vacuumPid}, phase '[a-z ]+', \\d+% of the heap scanned\\)$`));
      expect((await check(t.sql, { onVacuum: false })).signal).toBeNull();
      // a role without pg_read_all_stats cannot see which table a superuser's VACUUM works on
      const hidden = await check(watcher, { onVacuum: true });
      expect(hidden.signal).toBeNull();
      expect(hidden.unmeasured).toContain('vacuum');
      const [{ still }] = (await t.sql`select count(*)::int as still from pg_stat_progress_vacuum where pid = ${vacuumPid}`) as unknown as [{ still: number }];
      expect(still).toBe(1); // it was still running during those checks
    } finally {
      await t.sql`select pg_cancel_backend(${vacuumPid})`;
      expect(((await running) as { code?: string }).code).toBe('57014');
      await vacuum.end();
      await watcher.end();
    }
    await checkUntil(t.sql, { onVacuum: true }, null);
  });

  it('several signals: replica_lag before wal_rate before xmin_horizon', async () => {
    const holder = clientOf(t);
    const standby = pair.standby.sql;
    try {
      await holder`begin isolation level repeatable read`;
      await holder`select 1 from session_summaries limit 1`;
      await standby`select pg_wal_replay_pause()`;
      const start = await check(t.sql);
      await writeWal(t);
      const all: Limits = { replicaLagBytes: 1024, walBytesPerSec: 1, xminAgeMs: 0, since: start };
      expect((await checkUntil(t.sql, all, 'replica_lag')).signal).toBe('replica_lag');
      expect((await check(t.sql, { ...all, replicaLagBytes: undefined })).signal).toBe('wal_rate');
      expect((await check(t.sql, { ...all, replicaLagBytes: undefined, walBytesPerSec: undefined })).signal).toBe('xmin_horizon');
    } finally {
      await standby`select pg_wal_replay_resume()`;
      await holder.end();
    }
    await pair.waitForReplay();
  });

  it('a role without pg_monitor: replica lag and other roles\' transactions are unmeasured, the call does not fail; with pg_monitor they are measured', async () => {
    const holder = clientOf(t);
    const watcher = clientOf(t, WATCHER, WATCHER_PASSWORD);
    try {
      const holderPid = await pidOf(holder);
      await holder`begin isolation level repeatable read`;
      await holder`select 1 from session_summaries limit 1`;
      const limits: Limits = { replicaLagMs: 0, replicaLagBytes: 0, xminAgeMs: 0, walBytesPerSec: 1024 ** 4 };
      const blind = await check(watcher, limits);
      expect(blind.signal).toBeNull();
      expect(blind.unmeasured).toEqual(expect.arrayContaining(['replica_lag', 'xmin_horizon']));
      expect(blind.unmeasured).not.toContain('wal_rate'); // pg_current_wal_lsn() needs no privilege
      await t.sql.unsafe(`grant pg_monitor to ${WATCHER}`);
      const seeing = await checkUntil(watcher, { xminAgeMs: 0 }, 'xmin_horizon');
      expect(seeing.reason).toContain(`pid ${holderPid}`);
      expect(seeing.unmeasured).toEqual([]);
      const replicas = await check(watcher, { replicaLagMs: 3_600_000, replicaLagBytes: 1024 ** 4 });
      expect(replicas).toMatchObject({ signal: null, unmeasured: [] });
    } finally {
      await t.sql.unsafe(`revoke pg_monitor from ${WATCHER}`);
      await holder.end();
      await watcher.end();
    }
  });

  it('bad arguments: 22023 with DETAIL and HINT', async () => {
    const cases: [string, RegExp][] = [
      ['-1, null, null, null, false, null, null', /p_replica_lag_ms must be NULL \(off\) or >= 0 \(got -1\)/],
      ['null, null, -5, null, false, null, null', /p_wal_bytes_per_sec must be NULL \(off\) or >= 0 \(got -5\)/],
      ['null, null, null, -1, false, null, null', /p_xmin_age_ms must be NULL/],
      ['null, null, null, null, null, null, null', /p_on_vacuum must be true or false/],
      ["null, null, 1, null, false, '0/0', null", /p_wal_from and p_wal_from_at go together/],
    ];
    for (const [args, message] of cases) {
      const err = (await t.sql.unsafe(`select * from backfill_throttle_signal(${args})`).catch((e: unknown) => e)) as postgres.PostgresError;
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe('22023');
      expect(err.message).toMatch(message);
      expect(err.detail).toBeTruthy();
      expect(err.hint).toBeTruthy();
    }
  });
});
