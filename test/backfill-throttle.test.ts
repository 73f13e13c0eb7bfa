// Throttling of a backfill run on database health, end to end, on every test server:
// for each signal (a standby that stopped replaying, WAL written faster than a limit, a
// transaction holding back the xmin horizon, a VACUUM of session_summaries) the run
// pauses -- the progress view shows 'throttled' with the reason, no batch is done
// meanwhile -- and, once the signal clears, finishes with the table an unthrottled run
// fills, with the time lost recorded. The signal function itself is tested in
// backfill-throttle-signal.test.ts.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, runCli, testServers, type DatabaseServer, type TestDatabase } from './harness/servers.js';
import { startReplicaPair } from './harness/replica.js';
import { seedInto, snapshotFingerprint, waitFor } from './backfill-cli.helpers.js';

const SESSIONS = 1500;
/** Every signal off: each case turns on the one it tests. */
const OFF: Record<string, string> = {
  throttle_replica_lag_ms: '0', throttle_replica_lag_bytes: '0', throttle_wal_bytes_per_sec: '0',
  throttle_xmin_age_ms: '0', throttle_on_vacuum: 'false',
};

function client(t: TestDatabase, notices?: string[]): postgres.Sql {
  const { host, port, user, password, database } = t.target;
  return postgres({ host, port, user, password, database, max: 1, onnotice: (n) => notices?.push(String(n.message)) });
}

async function seeded(server: DatabaseServer): Promise<TestDatabase> {
  const t = await freshDatabase(server);
  await seedInto(t.db.sql, t.db, SESSIONS);
  return t;
}

interface Throttled {
  done: Promise<{ status: string; runId: number }>;
  notices: string[];
}

/** Starts a CALL on its own connection with every signal off but `on` (notices collected). */
function start(t: TestDatabase, on: Record<string, string>, clients: postgres.Sql[]): Throttled {
  const notices: string[] = [];
  const c = client(t, notices);
  clients.push(c);
  const args = Object.entries({ ...OFF, ...on }).map(([k, v]) => `${k} => ${v}`).join(', ');
  // slow enough (a pause between batches) that several health checks fall inside the run
  const done = c.unsafe(`CALL backfill_snapshots(batch_size => 50, pause_ms => 100, ${args})`)
    .then((rows) => ({ status: String(rows[0]!.status), runId: Number(rows[0]!.run_id) }));
  return { done, notices };
}

/** Waits for the view to show the run throttled, then checks that no batch is done for a while. */
async function expectPaused(t: TestDatabase, reason: RegExp): Promise<void> {
  await waitFor(async () => {
    const [p] = await t.sql`select status, throttle_reason from backfill_progress order by run_id desc limit 1`;
    return p?.status === 'throttled' && reason.test(String(p.throttle_reason));
  }, 60_000, `the run to be throttled (${reason})`);
  const [{ b: before }] = (await t.sql`select batches as b from backfill_runs order by run_id desc limit 1`) as unknown as [{ b: number }];
  await new Promise((r) => setTimeout(r, 1500));
  const [p] = await t.sql`select status, batches, throttled_time from backfill_progress order by run_id desc limit 1`;
  expect(p!.status).toBe('throttled');
  expect(p!.batches).toBe(before);
  const [w] = await t.sql`select throttle_reason, throttled_since from backfill_worker_progress where live`;
  expect(String(w!.throttle_reason)).toMatch(reason);
  expect(w!.throttled_since).not.toBeNull();
}

async function expectFinished(t: TestDatabase, run: Throttled, reason: RegExp, reference: { md5: string; filled: number }): Promise<void> {
  const out = await run.done;
  expect(out.status).toBe('completed');
  expect(await snapshotFingerprint(t.sql)).toEqual(reference);
  const [p] = await t.sql`select status, extract(epoch from throttled_time)::float8 as lost from backfill_progress where run_id = ${out.runId}`;
  expect(p!.status).toBe('completed');
  expect(Number(p!.lost)).toBeGreaterThan(0.4);
  expect(run.notices.some((n) => /throttled: /.test(n) && reason.test(n)), run.notices.join('\n')).toBe(true);
  expect(run.notices.some((n) => /throttling over after/.test(n))).toBe(true);
}

/** A transaction holding a snapshot (and so the xmin horizon) until the returned function commits it. */
async function holdSnapshot(t: TestDatabase, clients: postgres.Sql[]): Promise<() => Promise<void>> {
  const holder = client(t);
  clients.push(holder);
  const reserved = await holder.reserve();
  await reserved`begin isolation level repeatable read`;
  await reserved`select count(*) from session_summaries`;
  return async () => {
    await reserved`commit`;
    reserved.release();
  };
}

describe.each(testServers())('throttled backfill runs on $name', (server) => {
  const dbs: TestDatabase[] = [];
  const clients: postgres.Sql[] = [];
  let reference: { md5: string; filled: number };

  beforeAll(async () => {
    const t = await seeded(server);
    dbs.push(t);
    const c = client(t);
    clients.push(c);
    await c.unsafe('CALL backfill_snapshots(batch_size => 50, quiet => true, throttle => false)');
    reference = await snapshotFingerprint(t.sql);
  });

  afterAll(async () => {
    for (const c of clients) await c.end({ timeout: 5 }).catch(() => undefined);
    for (const t of dbs) await t.drop();
  });

  it('xmin_horizon: a long transaction pauses the run; at its COMMIT the run goes on and finishes identically', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const release = await holdSnapshot(t, clients);
    await new Promise((r) => setTimeout(r, 500)); // older than the limit from the first check on
    const run = start(t, { throttle_xmin_age_ms: '300' }, clients);
    await expectPaused(t, /xmin|transaction/i);
    await release();
    await expectFinished(t, run, /xmin|transaction/i, reference);
  });

  it('vacuum: a VACUUM of session_summaries pauses the run until it ends', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const vacuum = client(t);
    clients.push(vacuum);
    const [{ pid }] = (await vacuum`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
    await vacuum`set vacuum_cost_delay = '100ms'`;
    await vacuum`set vacuum_cost_limit = 1`;
    const running = vacuum.unsafe('vacuum (disable_page_skipping) session_summaries').catch((e: unknown) => e);
    await waitFor(async () => (await t.sql`select 1 from pg_stat_progress_vacuum where pid = ${pid}`).length === 1, 30_000, 'the VACUUM');
    const run = start(t, { throttle_on_vacuum: 'true' }, clients);
    await expectPaused(t, /VACUUM/);
    await t.sql`select pg_cancel_backend(${pid})`;
    await running;
    await expectFinished(t, run, /VACUUM/, reference);
  });

  it('wal_rate: a run writing WAL faster than the limit backs off between bursts and still finishes identically', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const run = start(t, { throttle_wal_bytes_per_sec: '100000' }, clients);
    await expectFinished(t, run, /WAL/, reference);
  });

  it('the CLI passes its --throttle-* flags: --throttle-xmin-age-ms pauses it while a transaction is open', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const release = await holdSnapshot(t, clients);
    const cli = runCli(['backfill', '--db', t.url, '--batch-size', '50', '--no-indexes', '--throttle-xmin-age-ms', '300',
      '--throttle-replica-lag-ms', '0', '--throttle-replica-lag-bytes', '0', '--no-throttle-on-vacuum', '--json']);
    await expectPaused(t, /xmin|transaction/i);
    await release();
    const r = await cli;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).stopped).toBe('completed');
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
  });

  it('replica_lag: a standby that stopped replaying pauses the run; once it replays again the run finishes identically', async () => {
    const pair = await startReplicaPair(server);
    try {
      const t = await seeded(pair.primary);
      const run = (async () => {
        await pair.standby.sql`select pg_wal_replay_pause()`;
        return start(t, { throttle_replica_lag_bytes: '50000' }, clients);
      })();
      const throttled = await run;
      try {
        await expectPaused(t, /standby|replay/i);
      } finally {
        await pair.standby.sql`select pg_wal_replay_resume()`;
      }
      await expectFinished(t, throttled, /standby|replay/i, reference);
      await t.drop();
    } finally {
      await pair.stop();
    }
  });
});
