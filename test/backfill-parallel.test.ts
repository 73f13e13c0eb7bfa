// Parallel workers of one backfill run (backfill_snapshots(workers => N): each CALL on
// its own connection claims key ranges of its own), on every test server:
//  - two psql-style CALLs, and `cowrie-db backfill --workers 3`, produce the table, the
//    counters and the rejects of one worker, on seeded data and on the real-install
//    fixture built from DOMAIN.md;
//  - a worker killed mid-run: the other takes over its range and completes the run
//    identically; all workers killed: the run shows 'interrupted' and one CALL resumes
//    it to the same table;
//  - undo of a two-worker run restores the table; a two-worker dry run counts what one
//    worker's does and writes nothing;
//  - one run at a time still holds: a CALL beyond the run's workers is refused (55P03).
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRealInstall } from './fixtures/real-install.js';
import { freshDatabase, runCli, testServers, type TestDatabase, type TestServer } from './harness/servers.js';
import { seedInto, snapshotFingerprint, waitFor } from './backfill-cli.helpers.js';

const SESSIONS = 3000;
const COUNTERS = ['rows_scanned', 'rows_filled', 'rows_unchanged', 'rows_rejected', 'rows_no_inventory', 'rows_multi_ip',
  'filled_source_ip', 'filled_snapshot_asn', 'filled_snapshot_country', 'filled_snapshot_ip_type', 'filled_enrichment_at',
  'asn_from_json', 'asn_from_history', 'asn_from_inventory', 'country_from_json', 'country_from_inventory',
  'country_default', 'ip_type_from_json', 'ip_type_from_inventory', 'enrichment_at_from_json',
  'enrichment_at_from_session', 'enrichment_at_from_inventory'];

function client(t: TestDatabase): postgres.Sql {
  const { host, port, user, password, database } = t.target;
  return postgres({ host, port, user, password, database, max: 1, onnotice: () => undefined });
}

type Outcome = { ok: true; status: string; runId: number } | { ok: false; error: postgres.PostgresError };

/** A CALL on a connection of its own, not awaited. */
function call(t: TestDatabase, args: string, clients: postgres.Sql[]): Promise<Outcome> {
  const c = client(t);
  clients.push(c);
  return c.unsafe(`CALL backfill_snapshots(${args})`).then(
    (rows) => ({ ok: true as const, status: String(rows[0]!.status), runId: Number(rows[0]!.run_id) }),
    (error: postgres.PostgresError) => ({ ok: false as const, error }),
  );
}

/** Two CALLs of one run: the first, then (once it has registered as a worker) the second. */
async function twoWorkers(t: TestDatabase, args: string, clients: postgres.Sql[], second = args): Promise<[Promise<Outcome>, Promise<Outcome>]> {
  const before = Number((await t.sql`select count(*)::int as n from backfill_workers`)[0]!.n);
  const a = call(t, args, clients);
  await waitFor(async () => (await t.sql`select count(*)::int as n from backfill_workers`)[0]!.n > before, 30_000, 'the first worker');
  return [a, call(t, second, clients)];
}

async function counters(sql: postgres.Sql, runId: number): Promise<Record<string, number>> {
  const [r] = await sql`select * from backfill_runs where run_id = ${runId}`;
  return Object.fromEntries(COUNTERS.map((k) => [k, Number(r![k])]));
}

async function rejects(sql: postgres.Sql, runId: number): Promise<string[]> {
  const rows = await sql`select session_id || ' ' || reason as r from backfill_rejects where run_id = ${runId} order by 1`;
  return rows.map((r) => String(r.r));
}

async function seeded(server: TestServer): Promise<TestDatabase> {
  const t = await freshDatabase(server);
  await seedInto(t.db.sql, t.db, SESSIONS);
  await t.sql`analyze session_summaries`;
  return t;
}

describe.each(testServers())('parallel backfill workers on $name', (server) => {
  const dbs: TestDatabase[] = [];
  const clients: postgres.Sql[] = [];
  let reference: { md5: string; filled: number };
  let referenceCounters: Record<string, number>;
  let referenceRejects: string[];
  let pristine: { md5: string; filled: number };

  beforeAll(async () => {
    const t = await seeded(server);
    dbs.push(t);
    pristine = await snapshotFingerprint(t.sql);
    const out = await call(t, 'batch_size => 50, quiet => true, throttle => false', clients);
    if (!out.ok) throw out.error;
    expect(out.status).toBe('completed');
    reference = await snapshotFingerprint(t.sql);
    referenceCounters = await counters(t.sql, out.runId);
    referenceRejects = await rejects(t.sql, out.runId);
    expect(reference.filled).toBeGreaterThan(SESSIONS / 2);
  });

  afterAll(async () => {
    for (const c of clients) await c.end({ timeout: 5 }).catch(() => undefined);
    for (const t of dbs) await t.drop();
  });

  it('two CALLs with workers => 2 fill the table one worker fills, with the same counters and rejects', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const args = 'batch_size => 50, quiet => true, throttle => false, workers => 2';
    const outcomes = await Promise.all(await twoWorkers(t, args, clients));
    for (const o of outcomes) if (!o.ok) throw o.error;
    const done = outcomes as { ok: true; status: string; runId: number }[];
    expect(done[0]!.runId).toBe(done[1]!.runId);
    expect(done.map((o) => o.status)).toContain('completed');
    for (const o of done) expect(['completed', 'running']).toContain(o.status);
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
    expect(await counters(t.sql, done[0]!.runId)).toEqual(referenceCounters);
    expect(await rejects(t.sql, done[0]!.runId)).toEqual(referenceRejects);
    const workers = await t.sql`select pid, batches, rows_done, live from backfill_worker_progress where run_id = ${done[0]!.runId}`;
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      expect(Number(w.batches)).toBeGreaterThan(0); // both did part of the work
      expect(w.live).toBe(false);
    }
    expect(workers.reduce((s, w) => s + Number(w.rows_done), 0)).toBe(referenceCounters.rows_scanned);
    const [p] = await t.sql`select status, ranges_done, ranges_total, workers from backfill_progress where run_id = ${done[0]!.runId}`;
    expect(p!.status).toBe('completed');
    expect(p!.ranges_done).toBe(p!.ranges_total);
    expect(p!.ranges_total).toBeGreaterThanOrEqual(8);
    expect(p!.workers).toBe(2);
  });

  it('cowrie-db backfill --workers 3 fills the same table', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const r = await runCli(['backfill', '--db', t.url, '--workers', '3', '--batch-size', '50', '--no-throttle', '--no-indexes', '--call-ms', '200', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.stopped).toBe('completed');
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
    expect(await counters(t.sql, summary.run_id)).toEqual(referenceCounters);
    const [w] = await t.sql`select count(distinct pid)::int as n from backfill_workers where run_id = ${summary.run_id}`;
    expect(w!.n).toBe(3);
  });

  it('a worker killed mid-run: the other takes over its range and completes the run identically', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const args = 'batch_size => 50, quiet => true, throttle => false, workers => 2, pause_ms => 20';
    const [a, b] = await twoWorkers(t, args, clients);
    await waitFor(async () => (await t.sql`select count(*)::int as n from backfill_workers where batches > 2`)[0]!.n >= 2, 60_000, 'both workers at work');
    const [victim] = await t.sql`select pid, range_no from backfill_workers where range_no is not null order by pid limit 1`;
    await t.sql`select pg_terminate_backend(${victim!.pid})`;
    const outcomes = await Promise.all([a, b]);
    expect(outcomes.filter((o) => !o.ok)).toHaveLength(1); // the killed one
    const survivor = outcomes.find((o) => o.ok) as { ok: true; status: string; runId: number };
    expect(survivor.status).toBe('completed');
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
    expect(await counters(t.sql, survivor.runId)).toEqual(referenceCounters);
    const [taken] = await t.sql`select worker_pid, done from backfill_ranges where run_id = ${survivor.runId} and range_no = ${victim!.range_no}`;
    expect(taken!.done).toBe(true);
    expect(taken!.worker_pid).not.toBe(victim!.pid);
  });

  it('every worker killed: the run is interrupted, and one CALL resumes it to the same table', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const args = 'batch_size => 50, quiet => true, throttle => false, workers => 2, pause_ms => 20';
    const [a, b] = await twoWorkers(t, args, clients);
    await waitFor(async () => (await t.sql`select count(*)::int as n from backfill_workers where batches > 2`)[0]!.n >= 2, 60_000, 'both workers at work');
    await t.sql`select pg_terminate_backend(pid) from backfill_workers where left_at is null`;
    const outcomes = await Promise.all([a, b]);
    expect(outcomes.every((o) => !o.ok)).toBe(true);
    const [p] = await t.sql`select run_id, status, ranges_done, ranges_total from backfill_progress`;
    expect(p!.status).toBe('interrupted');
    expect(p!.ranges_done).toBeLessThan(p!.ranges_total);
    const resumed = await call(t, 'batch_size => 50, quiet => true, throttle => false', clients);
    if (!resumed.ok) throw resumed.error;
    expect(resumed.runId).toBe(Number(p!.run_id));
    expect(resumed.status).toBe('completed');
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
    expect(await counters(t.sql, resumed.runId)).toEqual(referenceCounters);
  });

  it('a CALL beyond the run\'s workers is refused as a second run; undo of a two-worker run restores the table', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const args = 'batch_size => 50, quiet => true, throttle => false, workers => 2, pause_ms => 30';
    const [a, b] = await twoWorkers(t, args, clients);
    await waitFor(async () => (await t.sql`select count(*)::int as n from backfill_run_workers((select max(run_id) from backfill_runs))`)[0]!.n >= 2, 30_000, 'two live workers');
    const third = await call(t, args, clients);
    expect(third.ok).toBe(false);
    const err = (third as { ok: false; error: postgres.PostgresError }).error;
    expect(err.code).toBe('55P03');
    expect(err.message).toMatch(/is already running \(backend pid \d+, 2 workers of 2\)/);
    const outcomes = await Promise.all([a, b]);
    for (const o of outcomes) if (!o.ok) throw o.error;
    expect(await snapshotFingerprint(t.sql)).toEqual(reference);
    const runId = (outcomes[0] as { runId: number }).runId;
    const c = client(t);
    clients.push(c);
    await c.unsafe(`CALL undo_backfill(${runId}, quiet => true)`);
    expect(await snapshotFingerprint(t.sql)).toEqual(pristine);
  });

  it('a dry run with two workers counts what one worker\'s does and writes nothing', async () => {
    const t = await seeded(server);
    dbs.push(t);
    const one = await call(t, 'dry_run => true, batch_size => 50, quiet => true, throttle => false', clients);
    if (!one.ok) throw one.error;
    const args = 'dry_run => true, batch_size => 50, quiet => true, throttle => false, workers => 2, restart => true';
    const [a, b] = await twoWorkers(t, args, clients, 'dry_run => true, batch_size => 50, quiet => true, throttle => false, workers => 2');
    const outcomes = await Promise.all([a, b]);
    for (const o of outcomes) if (!o.ok) throw o.error;
    const runId = (outcomes[0] as { runId: number }).runId;
    expect(runId).not.toBe(one.runId);
    expect(await counters(t.sql, runId)).toEqual(await counters(t.sql, one.runId));
    expect(await snapshotFingerprint(t.sql)).toEqual(pristine);
  });

  it('on the real-install fixture, two workers fill what one worker fills', async () => {
    const fills: { md5: string; filled: number }[] = [];
    for (const workers of [1, 2]) {
      const t = await freshDatabase(server, { migrate: false });
      dbs.push(t);
      await loadRealInstall(t.sql);
      const m = await runCli(['migrate', '--db', t.url, '-q']);
      expect(m.code, m.stderr).toBe(0);
      const r = await runCli(['backfill', '--db', t.url, '--workers', String(workers), '--batch-size', '10', '--no-throttle', '--no-indexes', '--call-ms', '100', '-q']);
      expect(r.code, r.stderr).toBe(0);
      fills.push(await snapshotFingerprint(t.sql));
    }
    expect(fills[1]).toEqual(fills[0]);
    expect(fills[0]!.filled).toBeGreaterThan(300);
  });
});
