// A table locked by another session: the snapshot_ip_type rename waits with a short
// lock_timeout and bounded retries (readers are never queued behind it for longer
// than one lock_timeout), then stops with a clear message naming the blocker; when
// the lock goes away within the bounds, the rename goes through.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientFor } from '../src/db/connect.js';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

describe.each(testServers())('rename under lock contention on $name', (server) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await freshDatabase(server);
    await t.sql`insert into session_summaries (session_id, snapshot_ip_type) select 's' || g, 'VPN' from generate_series(1, 200) g`;
    await t.sql`alter table session_summaries rename column snapshot_ip_type to snapshot_ip_types`;
  });
  afterEach(async () => t.drop());

  /** A reader that holds ACCESS SHARE on session_summaries until released. */
  async function holdLock() {
    const holder = clientFor(t.target, { max: 1, onnotice: () => undefined });
    const conn = await holder.reserve();
    await conn`begin`;
    await conn`select count(*) from session_summaries`;
    const [{ pid }] = (await conn`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
    return {
      pid,
      async release() {
        await conn`rollback`;
        conn.release();
        await holder.end({ timeout: 1 });
      },
    };
  }

  /** Other readers keep querying; returns the longest time one of them waited. */
  function readers(stop: { done: boolean }) {
    const sql = clientFor(t.target, { max: 2, onnotice: () => undefined });
    let worst = 0;
    const loop = (async () => {
      while (!stop.done) {
        const t0 = Date.now();
        await sql`select count(*) from session_summaries`;
        worst = Math.max(worst, Date.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }
      await sql.end({ timeout: 1 });
      return worst;
    })();
    return loop;
  }

  it('gives up after its bounded retries, names the blocking pid, changes nothing; readers wait at most about one lock_timeout', async () => {
    const lock = await holdLock();
    const stop = { done: false };
    const worstReader = readers(stop);
    const t0 = Date.now();
    const run = await runCli(['migrate', '--db', t.url]);
    const elapsed = Date.now() - t0;
    stop.done = true;
    const worst = await worstReader;
    await lock.release();
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/session_summaries/);
    expect(run.stderr).toContain(String(lock.pid));
    expect(run.stderr).not.toMatch(/current transaction is aborted/);
    expect(elapsed).toBeLessThan(60_000);
    expect(worst).toBeLessThan(4_000);
    const [col] = await t.sql`select count(*)::int as n from pg_attribute where attrelid = 'session_summaries'::regclass and attname = 'snapshot_ip_types' and not attisdropped`;
    expect(col?.n).toBe(1);
  });

  it('waits and retries, then renames once the lock is released', async () => {
    const lock = await holdLock();
    const migrate = runCli(['migrate', '--db', t.url]);
    await new Promise((r) => setTimeout(r, 3_000));
    await lock.release();
    const run = await migrate;
    expect(run.code, run.stderr).toBe(0);
    const rows = await t.sql`select count(*)::int as n from session_summaries where snapshot_ip_type = 'VPN'`;
    expect(rows[0]?.n).toBe(200);
  });
});
