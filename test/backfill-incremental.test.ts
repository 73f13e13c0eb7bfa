// Incremental backfill runs (backfill_settled), driven over SQL on every test server:
//  (a) a second run on an unchanged table looks at nothing; after N new and M updated
//      sessions it looks at exactly those N + M, and a full re-examination afterwards
//      (recheck_all) finds nothing left to fill;
//  (b) sessions waiting for an inventory row are looked at again when it appears or
//      changes, and get their values;
//  (c) rejects are looked at again only when their row changed or on request
//      (recheck_rejects), which a resumed run refuses; a changed rule version
//      invalidates what it settled;
//  (d) application inserts and updates during incremental runs: nothing missed,
//      nothing filled twice, no application write lost;
//  (e) an incremental run interrupted by cancel and terminate and resumed ends
//      identical to an uninterrupted one on the same data;
//  (f) with the partial index the scan reads the open sessions' index.
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, testServers, type TestDatabase, type TestServer } from './harness/servers.js';
import { seedInto, snapshotFingerprint, waitFor } from './backfill-cli.helpers.js';
import { insertCopies } from './backfill-incremental.helpers.js';

const SESSIONS = 2000;

function client(t: TestDatabase): postgres.Sql {
  return postgres({
    host: t.target.host, port: t.target.port, user: t.target.user, password: t.target.password,
    database: t.target.database, max: 1, onnotice: () => undefined,
  });
}

async function seeded(server: TestServer, dbs: TestDatabase[]): Promise<TestDatabase> {
  const t = await freshDatabase(server);
  dbs.push(t);
  await seedInto(t.db.sql, t.db, SESSIONS);
  return t;
}

type Run = { run_id: number; status: string; rows_scanned: number; rows_filled: number; rows_rejected: number; rows_unchanged: number };

async function call(c: postgres.Sql, args = ''): Promise<Run> {
  const [r] = await c.unsafe(`CALL backfill_snapshots(quiet => true${args ? ', ' + args : ''})`);
  const [run] = await c`select run_id::int, status, rows_scanned::int, rows_filled::int, rows_rejected::int, rows_unchanged::int
                          from backfill_runs where run_id = ${Number(r!.run_id)}`;
  return run as unknown as Run;
}

const OPEN = `(source_ip is null or snapshot_asn is null or snapshot_country is null or snapshot_ip_type is null or enrichment_at is null)`;

/** Sessions where some NULL column has a value the rule would give it now. */
async function fillable(sql: postgres.Sql): Promise<number> {
  const [row] = await sql`
    select count(*)::int as n from session_summaries s
     cross join lateral backfill_snapshot_source(s.enrichment, s.first_event_at, s.created_at) src
     where src.reject_reason is null
       and ((s.source_ip is null and src.new_source_ip is not null) or (s.snapshot_asn is null and src.new_snapshot_asn is not null)
            or (s.snapshot_country is null and src.new_snapshot_country is not null)
            or (s.snapshot_ip_type is null and src.new_snapshot_ip_type is not null)
            or (s.enrichment_at is null and src.new_enrichment_at is not null))`;
  return Number(row!.n);
}

/** Cells written twice: a column going from NULL to a value in more than one undo entry of a session. */
async function filledTwice(sql: postgres.Sql): Promise<number> {
  const [row] = await sql`
    select count(*)::int as n from (
      select session_id,
             count(*) filter (where old_source_ip is null and new_source_ip is not null) as a,
             count(*) filter (where old_snapshot_asn is null and new_snapshot_asn is not null) as b,
             count(*) filter (where old_snapshot_country is null and new_snapshot_country is not null) as c,
             count(*) filter (where old_snapshot_ip_type is null and new_snapshot_ip_type is not null) as d,
             count(*) filter (where old_enrichment_at is null and new_enrichment_at is not null) as e
        from backfill_undo group by session_id) x
     where greatest(a, b, c, d, e) > 1`;
  return Number(row!.n);
}

describe.each(testServers())('incremental backfill runs on $name', (server) => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    for (const t of dbs) await t.drop();
  });

  it('(a) unchanged: nothing looked at; after N new and M updated sessions exactly N + M; a full pass then finds nothing', async () => {
    const t = await seeded(server, dbs);
    const c = client(t);
    try {
      const first = await call(c, 'batch_size => 200');
      expect(first.status).toBe('completed');
      expect(first.rows_scanned).toBeGreaterThan(SESSIONS * 0.9);
      // every session left open is settled in its current version
      const [s] = await t.sql.unsafe(`select count(*)::int as open,
          count(*) filter (where exists (select 1 from backfill_settled st where st.session_id = s.session_id
                                          and st.row_tid = s.ctid and st.row_xmin = s.xmin))::int as settled
        from session_summaries s where ${OPEN}`);
      expect(s!.open).toBeGreaterThan(0);
      expect(s!.settled).toBe(s!.open);

      const second = await call(c);
      expect(second.status).toBe('completed');
      expect(second.rows_scanned).toBe(0);
      expect(second.rows_filled).toBe(0);

      const fresh = await insertCopies(t.sql, 'n1', 150);
      const touched = await t.sql`update session_summaries s set event_count = s.event_count + 1
                                    from (select session_id from backfill_settled order by session_id limit 40) st
                                   where s.session_id = st.session_id returning s.session_id`;
      // a session that is complete and gets updated is not open: not looked at
      await t.sql.unsafe(`update session_summaries set event_count = event_count + 1
                           where session_id in (select session_id from session_summaries where not ${OPEN} limit 25)`);
      const third = await call(c, 'batch_size => 64');
      expect(third.rows_scanned).toBe(fresh.length + touched.length);
      expect(third.rows_filled).toBeGreaterThan(fresh.length * 0.8);
      expect(await fillable(t.sql)).toBe(0);
      expect((await call(c)).rows_scanned).toBe(0);

      // nothing missed: a full re-examination fills nothing more
      const all = await call(c, 'recheck_all => true');
      expect(all.rows_scanned).toBe(Number((await t.sql.unsafe(`select count(*)::int as n from session_summaries where ${OPEN}`))[0]!.n));
      expect(all.rows_filled).toBe(0);
      expect(await filledTwice(t.sql)).toBe(0);
    } finally {
      await c.end();
    }
  });

  it('(b) sessions waiting for an inventory row: looked at again when it appears or changes', async () => {
    const t = await seeded(server, dbs);
    const c = client(t);
    try {
      await call(c);
      const waiting = await t.sql`select ip, count(*)::int as n from backfill_settled
                                   where ip is not null and inv_xmin is null group by ip order by ip limit 3`;
      expect(waiting.length).toBeGreaterThan(0);
      const ips = waiting.map((w) => String(w.ip));
      const expected = waiting.reduce((a, w) => a + Number(w.n), 0);
      await t.sql`insert into ip_inventory (ip_address, first_seen, last_seen, enrichment)
                  select ip, now(), now(), '{"maxmind": {"country": "DE"}, "spur": {"client": {"types": ["VPN"]}}}'::jsonb
                    from unnest(${ips}::text[]) ip`;
      const ids = (await t.sql`select session_id from backfill_settled where ip = any(${ips})`).map((r) => String(r.session_id));
      expect(ids).toHaveLength(expected);
      const run = await call(c);
      expect(run.rows_scanned).toBe(expected);
      const [linked] = await t.sql`select count(*) filter (where source_ip = any(${ips}))::int as n
                                     from session_summaries where session_id = any(${ids})`;
      expect(linked!.n).toBe(expected);
      // an inventory row that changes: its sessions still open are looked at again
      const [{ n: before }] = (await t.sql`select count(*)::int as n from backfill_settled where ip = ${ips[0]!}`) as unknown as [{ n: number }];
      await t.sql`update ip_inventory set enrichment_updated_at = now() where ip_address = ${ips[0]!}`;
      const again = await call(c);
      expect(again.rows_scanned).toBe(before);
      expect(await fillable(t.sql)).toBe(0);
      // unchanged inventory: nothing
      expect((await call(c)).rows_scanned).toBe(0);
    } finally {
      await c.end();
    }
  });

  it('(c) rejects: only a changed one, all on request (not on resume); another rule version invalidates', async () => {
    const t = await seeded(server, dbs);
    const c = client(t);
    try {
      const first = await call(c);
      expect(first.rows_rejected).toBeGreaterThan(10);
      const [{ n: rejects }] = await t.sql`select count(*)::int as n from backfill_settled where rejected` as unknown as [{ n: number }];
      expect(rejects).toBe(first.rows_rejected);
      await t.sql`update session_summaries set event_count = event_count + 1
                   where session_id in (select session_id from backfill_settled where rejected order by session_id limit 5)`;
      const changed = await call(c);
      expect(changed.rows_scanned).toBe(5);
      expect(changed.rows_rejected).toBe(5);
      expect((await call(c)).rows_scanned).toBe(0);

      // recheck_rejects refused while a run is unfinished
      await insertCopies(t.sql, 'n2', 300);
      const paused = await call(c, 'batch_size => 20, max_batches => 1');
      expect(paused.status).toBe('paused');
      await expect(c.unsafe('CALL backfill_snapshots(quiet => true, recheck_rejects => true)')).rejects.toMatchObject({ code: '22023' });
      await expect(c.unsafe(`CALL backfill_snapshots(quiet => true, run_id => ${paused.run_id}, recheck_all => true)`)).rejects.toMatchObject({ code: '22023' });
      const resumed = await call(c);
      expect(resumed.run_id).toBe(paused.run_id);
      expect(resumed.status).toBe('completed');

      const [{ n: nowRejects }] = await t.sql`select count(*)::int as n from backfill_settled where rejected` as unknown as [{ n: number }];
      const all = await call(c, 'recheck_rejects => true');
      expect(all.rows_scanned).toBe(nowRejects);
      expect(all.rows_rejected).toBe(nowRejects);
      expect((await call(c)).rows_scanned).toBe(0);

      // entries of another rule version are forgotten
      await t.sql`update backfill_settled set rule_version = 'older rule' where session_id in
                    (select session_id from backfill_settled where not rejected order by session_id limit 7)`;
      expect((await call(c)).rows_scanned).toBe(7);
    } finally {
      await c.end();
    }
  });

  it('(d) application inserts and updates during incremental runs: nothing missed, nothing filled twice, no write lost', async () => {
    const t = await seeded(server, dbs);
    const c = client(t);
    try {
      await call(c);
      const [{ s0 }] = (await t.sql`select sum(event_count)::bigint as s0 from session_summaries`) as unknown as [{ s0: string }];
      let stop = false;
      let increments = 0;
      let inserted = 0;
      const errors: string[] = [];
      const app = async (w: number): Promise<void> => {
        const a = client(t);
        try {
          let k = 0;
          while (!stop) {
            k += 1;
            try {
              if (k % 3 === 0) {
                const copies = await insertCopies(a, `n${w}x${k}_`, 5, (k * 7) % 500);
                inserted += copies.length; // not `inserted += await ...`: that reads inserted before the await
              } else {
                const r = await a.unsafe(`update session_summaries set event_count = event_count + 1
                                            where session_id in (select session_id from session_summaries
                                                                  where ${OPEN} order by random() limit 3)
                                            returning session_id`);
                increments += r.length;
              }
            } catch (err) {
              errors.push((err as Error).message);
            }
          }
        } finally {
          await a.end();
        }
      };
      const workers = [app(1), app(2)];
      for (let i = 0; i < 4; i++) {
        const r = await call(c, 'batch_size => 25, pause_ms => 5');
        expect(r.status).toBe('completed');
      }
      stop = true;
      await Promise.all(workers);
      expect(errors).toEqual([]);
      expect(inserted).toBeGreaterThan(0);
      expect(increments).toBeGreaterThan(0);
      const inc = Number((await t.sql`select sum(event_count)::bigint as s from session_summaries`)[0]!.s) - Number(s0);
      expect(inc).toBe(increments + inserted); // copies start at event_count 1
      await call(c); // the writes of the last run's tail
      expect(await fillable(t.sql)).toBe(0);
      expect((await call(c, 'recheck_all => true')).rows_filled).toBe(0);
      expect(await filledTwice(t.sql)).toBe(0);
    } finally {
      await c.end();
    }
  });

  it('(e) an incremental run interrupted by cancel and terminate, resumed: identical to an uninterrupted one', async () => {
    const ref = await seeded(server, dbs);
    const t = await seeded(server, dbs);
    for (const d of [ref, t]) {
      const c = client(d);
      await call(c);
      await c.end();
      await insertCopies(d.sql, 'n3', 600);
      await d.sql`update session_summaries set event_count = event_count + 1
                   where session_id in (select session_id from backfill_settled order by session_id limit 60)`;
    }
    const rc = client(ref);
    const refRun = await call(rc, 'batch_size => 40');
    await rc.end();
    expect(refRun.rows_scanned).toBe(660);

    const watcher = client(t);
    const latest = async () => (await watcher`select run_id::int, status, batches::int from backfill_runs order by run_id desc limit 1`)[0]!;
    const firstId = Number((await latest()).run_id) + 1;
    let interruptions = 0;
    for (let round = 0; round < 30; round++) {
      const c = client(t);
      const [{ pid }] = (await c`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
      const before = Number((await latest()).batches);
      let done = false;
      const p = c.unsafe('CALL backfill_snapshots(batch_size => 40, pause_ms => 20, quiet => true)').then(
        () => (done = true),
        () => undefined,
      );
      await waitFor(async () => done || Number((await latest()).batches) >= before + 2, 60_000, 'batches');
      if (!done && interruptions < 4) {
        await watcher.unsafe(`select ${interruptions % 2 ? 'pg_terminate_backend' : 'pg_cancel_backend'}(${pid})`);
        interruptions += 1;
      }
      await p;
      await c.end({ timeout: 1 }).catch(() => undefined);
      if ((await latest()).status === 'completed') break;
    }
    expect(interruptions).toBe(4);
    const runs = await watcher`select run_id::int, status, rows_scanned::int, rows_filled::int, calls::int from backfill_runs where run_id >= ${firstId}`;
    expect(runs).toHaveLength(1);
    expect(runs[0]!.status).toBe('completed');
    expect(runs[0]!.rows_scanned).toBe(660);
    expect(runs[0]!.rows_filled).toBe(refRun.rows_filled);
    expect(await snapshotFingerprint(t.sql)).toEqual(await snapshotFingerprint(ref.sql));
    const settled = async (d: TestDatabase) =>
      (await d.sql`select md5(string_agg(session_id || rejected::text || coalesce(ip, ''), ',' order by session_id)) as m from backfill_settled`)[0]!.m;
    expect(await settled(t)).toBe(await settled(ref));
    await watcher.end();
  });

  it('(f) with the partial index, the scan reads the open sessions only', async () => {
    const t = await seeded(server, dbs);
    const c = client(t);
    try {
      await call(c);
      for (const r of await t.sql`select statement from snapshot_index_statements() where index_name = 'ix_session_summaries_snapshot_open'`) {
        await t.sql.unsafe(String(r.statement));
      }
      await t.sql`analyze session_summaries`;
      const plan = (await t.sql`explain select * from backfill_snapshot_page(1, 'a', 2500, 'scan')`).map((r) => String(r['QUERY PLAN'])).join('\n');
      expect(plan).toContain('ix_session_summaries_snapshot_open');
      expect(plan).toMatch(/SubPlan[\s\S]*backfill_settled_pkey/);
      expect((await call(c)).rows_scanned).toBe(0);
    } finally {
      await c.end();
    }
  });
});
