// The committing SQL procedures backfill_snapshots / undo_backfill, driven directly over
// SQL on every test server (pgTAP cannot test them: they COMMIT):
//  (a) a run interrupted many times at random batches, by pg_cancel_backend and by
//      pg_terminate_backend, and resumed each time, ends with a table identical to an
//      uninterrupted run on the same data, in one run;
//  (b) application inserts, updates and row locks on session_summaries during a run:
//      no error and no deadlock for the application, no lost update, no value of the
//      application overwritten, no row skipped for good;
//  (c) two runs at once: the second is refused with an error naming the first;
//  (d) undo of a run restores the table exactly (and leaves alone what changed since);
//  (e) rows the application updates between a batch's scan and its row locks (a new
//      row version the batch's snapshot cannot see) are neither lost by the fill nor
//      by the undo.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, testServers, type TestDatabase, type TestServer } from './harness/servers.js';
import { seedInto, snapshotFingerprint, waitFor } from './backfill-cli.helpers.js';

const SESSIONS = 3000;

function client(t: TestDatabase): postgres.Sql {
  return postgres({
    host: t.target.host,
    port: t.target.port,
    user: t.target.user,
    password: t.target.password,
    database: t.target.database,
    max: 1,
    onnotice: () => undefined,
  });
}

async function seeded(server: TestServer): Promise<TestDatabase> {
  const t = await freshDatabase(server);
  await seedInto(t.db.sql, t.db, SESSIONS);
  return t;
}

type Outcome = { ok: true; rows: postgres.RowList<postgres.Row[]> } | { ok: false; error: postgres.PostgresError | Error };

/** Starts a statement on its own connection without waiting for it. */
function start(sql: postgres.Sql, text: string): Promise<Outcome> {
  return sql.unsafe(text).then(
    (rows) => ({ ok: true as const, rows }),
    (error: Error) => ({ ok: false as const, error }),
  );
}

async function lastRealRun(sql: postgres.Sql): Promise<Record<string, unknown> | undefined> {
  const [row] = await sql`select * from backfill_runs where not dry_run order by run_id desc limit 1`;
  return row;
}

/** Rows that existed before `since` and still have a value the backfill would fill. */
async function stillFillable(sql: postgres.Sql, ids: string[]): Promise<number> {
  const [row] = await sql`
    select count(*)::int as n
      from session_summaries s
      cross join lateral backfill_snapshot_source(s.enrichment, s.first_event_at, s.created_at) src
     where s.session_id = any(${ids})
       and src.reject_reason is null
       and ((s.source_ip is null and src.new_source_ip is not null)
            or (s.snapshot_asn is null and src.new_snapshot_asn is not null)
            or (s.snapshot_country is null and src.new_snapshot_country is not null)
            or (s.snapshot_ip_type is null and src.new_snapshot_ip_type is not null)
            or (s.enrichment_at is null and src.new_enrichment_at is not null))`;
  return Number(row!.n);
}

/** session_id -> its five snapshot columns as one string. */
async function snapshotRows(sql: postgres.Sql): Promise<Map<string, string>> {
  const rows = await sql`select session_id, concat_ws('|', source_ip, snapshot_asn, snapshot_country, snapshot_ip_type,
                                                    extract(epoch from enrichment_at)) as v
                           from session_summaries`;
  return new Map(rows.map((r) => [String(r.session_id), String(r.v)]));
}

describe.each(testServers())('backfill_snapshots procedure on $name', (server) => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    for (const t of dbs) await t.drop();
  });

  let reference: { md5: string; filled: number };
  let referenceRun: Record<string, unknown>;

  beforeAll(async () => {
    const t = await seeded(server);
    dbs.push(t);
    const c = client(t);
    await c.unsafe('CALL backfill_snapshots(batch_size => 100, quiet => true)');
    reference = await snapshotFingerprint(t.sql);
    referenceRun = (await lastRealRun(t.sql))!;
    await c.end();
  });

  it('an uninterrupted run completes, fills the table and leaves nothing to do', async () => {
    expect(referenceRun.status).toBe('completed');
    expect(Number(referenceRun.rows_filled)).toBeGreaterThan(SESSIONS * 0.8);
    expect(reference.filled).toBeGreaterThan(SESSIONS * 0.8);
    expect(Number(referenceRun.rows_scanned)).toBe(
      Number(referenceRun.rows_filled) + Number(referenceRun.rows_unchanged) + Number(referenceRun.rows_rejected)
        + Number(referenceRun.rows_deferred) + Number(referenceRun.rows_resolved_elsewhere),
    );
  });

  it('sync_commit => true fills the same table as the default asynchronous batch COMMITs, and neither leaks into the session', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const c = client(t);
    try {
      // started with the default, resumed with sync_commit => true: params record the last call's choice
      const [first] = await c.unsafe('CALL backfill_snapshots(batch_size => 100, quiet => true, max_batches => 3)');
      expect(first!.status).toBe('paused');
      const sync = async () =>
        (await c`select params->>'sync_commit' as v from backfill_runs where run_id = ${Number(first!.run_id)}`)[0]!.v;
      expect(await sync()).toBe('false');
      const [run] = await c.unsafe('CALL backfill_snapshots(batch_size => 100, quiet => true, sync_commit => true)');
      expect(run!.status).toBe('completed');
      expect(Number(run!.run_id)).toBe(Number(first!.run_id));
      expect(await snapshotFingerprint(t.sql)).toEqual(reference);
      expect(await sync()).toBe('true');
      expect((referenceRun.params as { sync_commit?: boolean }).sync_commit).toBe(false);
      // the per-batch setting is transaction-local: the caller's session keeps its own
      const [setting] = await c`select current_setting('synchronous_commit') as v`;
      expect(setting!.v).toBe('on');
    } finally {
      await c.end();
    }
  });

  it('(a) interrupted at random batches by cancel and terminate, resumed each time: identical to the uninterrupted run', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const watcher = client(t);
    let interruptions = 0;
    let rounds = 0;
    let finished = false;
    const kinds: string[] = [];
    while (!finished) {
      rounds += 1;
      expect(rounds).toBeLessThan(60);
      const c = client(t);
      const [{ pid }] = (await c`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
      const before = Number((await lastRealRun(watcher))?.batches ?? 0);
      const call = start(c, 'CALL backfill_snapshots(batch_size => 100, quiet => true)');
      const target = before + 1 + Math.floor(Math.random() * 4);
      // wait for a random number of committed batches (or the end of the run)
      let outcome: Outcome | undefined;
      const done = call.then((o) => (outcome = o));
      await waitFor(async () => outcome !== undefined || Number((await lastRealRun(watcher))?.batches ?? 0) >= target, 60_000, 'batches');
      if (outcome === undefined && interruptions < 12) {
        const kind = interruptions % 2 === 0 ? 'pg_cancel_backend' : 'pg_terminate_backend';
        await watcher.unsafe(`select ${kind}(${pid})`);
        kinds.push(kind);
        interruptions += 1;
      }
      await done;
      if (outcome!.ok) finished = true;
      else {
        expect(String((outcome!.error as Error).message)).toMatch(/cancel|terminat|connection|closed|ended/i);
        // The interruption can land after the last batch committed the run as completed
        // (during its final ANALYZE): then the job is done, and another CALL would start a new run.
        if ((await lastRealRun(watcher))?.status === 'completed') finished = true;
      }
      await c.end({ timeout: 1 }).catch(() => undefined);
    }
    expect(interruptions).toBeGreaterThanOrEqual(4);
    expect(kinds).toContain('pg_terminate_backend');
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
    const runs = await t.sql`select run_id, status, rows_filled, rows_rejected, calls from backfill_runs where not dry_run`;
    expect(runs).toHaveLength(1); // every call resumed the same run
    expect(runs[0]!.status).toBe('completed');
    expect(Number(runs[0]!.rows_filled)).toBe(Number(referenceRun.rows_filled));
    expect(Number(runs[0]!.rows_rejected)).toBe(Number(referenceRun.rows_rejected));
    expect(Number(runs[0]!.calls)).toBe(rounds);
    // exactly one undo entry per changed row, as in the uninterrupted run
    const [u] = await t.sql`select count(*)::int as n, count(distinct session_id)::int as d from backfill_undo`;
    expect(u!.n).toBe(Number(referenceRun.rows_filled));
    expect(u!.d).toBe(u!.n);
    await watcher.end();
  });

  it('(b) application traffic during the run: no error, no deadlock, no lost update, nothing overwritten, nothing skipped', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const ids = (await t.sql`select session_id from session_summaries order by session_id`).map((r) => String(r.session_id));
    const [{ s0 }] = (await t.sql`select sum(event_count)::bigint as s0 from session_summaries`) as unknown as [{ s0: string }];
    const [{ d0 }] = (await t.sql`select deadlocks::bigint as d0 from pg_stat_database where datname = current_database()`) as unknown as [{ d0: string }];
    const runner = client(t);
    let runOutcome: Outcome | undefined;
    const run = start(runner, 'CALL backfill_snapshots(batch_size => 50, pause_ms => 2, quiet => true)').then((o) => (runOutcome = o));

    const appErrors: string[] = [];
    let increments = 0;
    const appWrote = new Map<string, string>();
    const inserted: string[] = [];
    const pick = () => ids[Math.floor(Math.random() * ids.length)]!;
    const worker = async (w: number) => {
      const app = client(t);
      try {
        for (let i = 0; runOutcome === undefined && i < 400; i++) {
          try {
            const op = i % 4;
            if (op === 0) {
              // several random rows locked, held a little while; sorted, as an application
              // must, so that the workers cannot deadlock one another (the test is about the
              // backfill causing no deadlock)
              const some = [pick(), pick(), pick()].sort();
              await app.begin(async (tx) => {
                for (const id of some) await tx`update session_summaries set event_count = event_count + 1 where session_id = ${id}`;
                await tx`select pg_sleep(0.01)`;
              });
              increments += some.length;
            } else if (op === 1) {
              // the application writes a snapshot value itself: the backfill must keep it
              const id = pick();
              const rows = await app`update session_summaries set snapshot_ip_type = ${'APP-' + w}
                                      where session_id = ${id} and snapshot_ip_type is null returning session_id`;
              if (rows.length > 0) appWrote.set(id, 'APP-' + w);
            } else if (op === 2) {
              const id = `zz-app-${w}-${i}`;
              await app`insert into session_summaries (session_id, first_event_at, last_event_at, enrichment)
                        select ${id}, first_event_at, last_event_at, enrichment from session_summaries where session_id = ${pick()}`;
              inserted.push(id);
            } else {
              await app.begin(async (tx) => {
                await tx`select 1 from session_summaries where session_id = any(${[pick(), pick()]}) for update`;
                await tx`select pg_sleep(0.02)`;
              });
            }
          } catch (e) {
            appErrors.push(String((e as Error).message));
          }
        }
      } finally {
        await app.end();
      }
    };
    await Promise.all([worker(1), worker(2), worker(3)]);
    await run;
    expect(appErrors).toEqual([]);
    expect(runOutcome!.ok).toBe(true);
    const r = (await lastRealRun(t.sql))!;
    expect(r.status).toBe('completed');
    expect(Number(r.rows_deferred)).toBe(0);
    // no lost update
    const [{ s1 }] = (await t.sql`select sum(event_count)::bigint as s1 from session_summaries where session_id = any(${ids})`) as unknown as [{ s1: string }];
    expect(BigInt(s1)).toBe(BigInt(s0) + BigInt(increments));
    // no deadlock anywhere
    const [{ d1 }] = (await t.sql`select deadlocks::bigint as d1 from pg_stat_database where datname = current_database()`) as unknown as [{ d1: string }];
    expect(d1).toBe(d0);
    // the application's own values are still there
    for (const [id, v] of appWrote) {
      const [row] = await t.sql`select snapshot_ip_type from session_summaries where session_id = ${id}`;
      expect(row!.snapshot_ip_type).toBe(v);
    }
    // rows locked or updated by the application were deferred and swept: none is left
    expect(await stillFillable(t.sql, ids)).toBe(0);
    // rows the application inserted meanwhile: those ahead of the cursor were filled by the
    // run, those inserted after it passed are left to the next run, which finishes them
    const [next] = await runner.unsafe('CALL backfill_snapshots(quiet => true)');
    expect(next!.status).toBe('completed');
    expect(await stillFillable(t.sql, inserted)).toBe(0);
    expect(await stillFillable(t.sql, ids)).toBe(0);
    await runner.end();
  });

  it('(c) two runs at once: the second is refused with an error naming the running one', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const first = client(t);
    const second = client(t);
    const watcher = client(t);
    const [{ pid }] = (await first`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
    let firstOutcome: Outcome | undefined;
    const firstRun = start(first, 'CALL backfill_snapshots(batch_size => 20, pause_ms => 20, quiet => true)').then((o) => (firstOutcome = o));
    await waitFor(async () => (await watcher`select * from backfill_lock_holder()`).length > 0, 30_000, 'the first run');
    const runId = Number((await lastRealRun(watcher))!.run_id);
    for (const text of ['CALL backfill_snapshots(5000)', 'CALL backfill_snapshots(dry_run => true)', `CALL undo_backfill(${runId})`]) {
      const refused = await start(second, text);
      expect(refused.ok).toBe(false);
      const err = (refused as { error: postgres.PostgresError }).error;
      expect(err.code).toBe('55P03');
      expect(err.message).toContain(`run ${runId}`);
      expect(err.message).toContain(`backend pid ${pid}`);
    }
    expect(firstOutcome).toBeUndefined(); // the first one was not disturbed
    // stop the first run (cancel: it pauses) and let the second caller resume it
    await watcher.unsafe(`select pg_cancel_backend(${pid})`);
    await firstRun;
    expect(firstOutcome!.ok).toBe(false);
    expect(((firstOutcome as { error: postgres.PostgresError }).error).code).toBe('57014');
    // paused; or, when the cancel landed on a COMMIT (between the procedure's error
    // handlers), still marked running with no backend: the view says interrupted
    const [view] = await watcher`select status from backfill_progress where run_id = ${runId}`;
    expect(['paused', 'interrupted']).toContain(view!.status);
    const [res] = await second.unsafe('CALL backfill_snapshots(batch_size => 500, quiet => true)');
    expect(Number(res!.run_id)).toBe(runId);
    expect(res!.status).toBe('completed');
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
    await Promise.all([first.end(), second.end(), watcher.end()]);
  });

  it('(d) undo restores the table exactly, and leaves alone the rows changed since', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const c = client(t);
    const before = await snapshotFingerprint(t.sql);
    const beforeRows = await snapshotRows(t.sql);
    const [run] = await c.unsafe('CALL backfill_snapshots(batch_size => 250, quiet => true)');
    const runId = Number(run!.run_id);
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
    const [undone] = await c.unsafe(`CALL undo_backfill(${runId}, batch_size => 300, quiet => true)`);
    expect(undone!.status).toBe('undone');
    expect(Number(undone!.restored)).toBe(Number(referenceRun.rows_filled));
    expect(Number(undone!.left_alone)).toBe(0);
    expect(await snapshotFingerprint(t.sql)).toEqual(before);

    // a second run, then someone changes one row it filled and deletes another
    const [run2] = await c.unsafe('CALL backfill_snapshots(batch_size => 250, quiet => true)');
    const run2Id = Number(run2!.run_id);
    expect(run2Id).not.toBe(runId);
    const [changed, deleted] = await t.sql`select session_id from backfill_undo where run_id = ${run2Id} order by session_id limit 2`;
    await t.sql`update session_summaries set snapshot_country = 'ZZ' where session_id = ${changed!.session_id}`;
    await t.sql`delete from session_summaries where session_id = ${deleted!.session_id}`;
    const [undone2] = await c.unsafe(`CALL undo_backfill(${run2Id}, quiet => true)`);
    expect(Number(undone2!.left_alone)).toBe(1);
    expect(Number(undone2!.missing)).toBe(1);
    expect(Number(undone2!.restored)).toBe(Number(referenceRun.rows_filled) - 2);
    const [row] = await t.sql`select snapshot_country from session_summaries where session_id = ${changed!.session_id}`;
    expect(row!.snapshot_country).toBe('ZZ');
    // every other row is exactly as before any run
    const now = await snapshotRows(t.sql);
    expect(now.size).toBe(beforeRows.size - 1);
    let differing = 0;
    for (const [id, v] of now) if (beforeRows.get(id) !== v) differing += 1;
    expect(differing).toBe(1);
    // an undone run cannot be resumed, and undoing it again only reports
    const [again] = await c.unsafe(`CALL undo_backfill(${run2Id}, quiet => true)`);
    expect(again!.status).toBe('undone');
    await c.end();
  });

  it('(e) rows updated by the application while a batch locks them: none left unfilled, none left unrestored', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const c = client(t);
    const ids = (await t.sql`select session_id from session_summaries order by session_id`).map((r) => String(r.session_id));
    const before = await snapshotRows(t.sql);
    // autocommit updates of random rows as fast as the workers can: many commit between a
    // batch's snapshot and its FOR NO KEY UPDATE, so the lock lands on a newer row version
    let stop = false;
    let updates = 0;
    const hammer = async () => {
      const app = client(t);
      try {
        while (!stop) {
          await app`update session_summaries set event_count = event_count + 1
                     where session_id = ${ids[Math.floor(Math.random() * ids.length)]!}`;
          updates += 1;
        }
      } finally {
        await app.end();
      }
    };
    const workers = [hammer(), hammer(), hammer()];
    try {
      for (let round = 0; round < 3; round++) {
        const [run] = await c.unsafe('CALL backfill_snapshots(batch_size => 500, quiet => true, run_analyze => false)');
        expect(run!.status).toBe('completed');
        expect(await stillFillable(t.sql, ids)).toBe(0);
        const [undone] = await c.unsafe(`CALL undo_backfill(${Number(run!.run_id)}, batch_size => 500, quiet => true)`);
        expect(undone!.status).toBe('undone');
        expect(Number(undone!.left_alone)).toBe(0);
        expect(Number(undone!.restored)).toBe(Number(referenceRun.rows_filled));
        const now = await snapshotRows(t.sql);
        let differing = 0;
        for (const [id, v] of now) if (before.get(id) !== v) differing += 1;
        expect(differing).toBe(0);
      }
    } finally {
      stop = true;
      await Promise.all(workers);
      await c.end();
    }
    expect(updates).toBeGreaterThan(100);
  });

  it('dry run: writes nothing to session_summaries and predicts the real run exactly', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const c = client(t);
    const before = await snapshotFingerprint(t.sql);
    const [dry] = await c.unsafe('CALL backfill_snapshots(dry_run => true, batch_size => 300, quiet => true)');
    expect(dry!.status).toBe('completed');
    expect(await snapshotFingerprint(t.sql)).toEqual(before);
    const [d] = await t.sql`select * from backfill_runs where run_id = ${Number(dry!.run_id)}`;
    for (const k of ['rows_scanned', 'rows_filled', 'rows_unchanged', 'rows_rejected', 'rows_no_inventory',
      'filled_source_ip', 'filled_snapshot_asn', 'filled_snapshot_country', 'filled_snapshot_ip_type', 'filled_enrichment_at']) {
      expect(Number(d![k]), k).toBe(Number(referenceRun[k]));
    }
    // max_batches: the small-scale test of the runbook, then resume to the end
    const [p] = await c.unsafe('CALL backfill_snapshots(batch_size => 100, max_batches => 3, quiet => true)');
    expect(p!.status).toBe('paused');
    const [pr] = await t.sql`select rows_done, batches from backfill_progress where run_id = ${Number(p!.run_id)}`;
    expect(pr!.batches).toBe(3);
    expect(Number(pr!.rows_done)).toBe(300);
    const [f] = await c.unsafe('CALL backfill_snapshots(batch_size => 100, quiet => true)');
    expect(f!.run_id).toBe(p!.run_id);
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
    await c.end();
  });
});
