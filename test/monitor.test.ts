// cowrie-db monitor and the SQL function backfill_monitor() behind it, on every test
// server: each exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) from the state the
// function decides -- coverage thresholds, sessions waiting for a run too long (new
// sessions not getting snapshots), a failed last run, no sessions, no engine, no
// server, bad thresholds; the same figures from psql and --json; rejects since the
// last recorded check; --prometheus written atomically, never through a symlink.
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';
import { seedInto } from './backfill-cli.helpers.js';
import { insertCopies } from './backfill-incremental.helpers.js';

interface Report {
  state: string;
  exit_code: number;
  reasons: string[];
  coverage_pct: number;
  sessions_total: number;
  sessions_pending: number;
  oldest_pending_age_s: number | null;
  last_run_status: string | null;
  rejects_since: string | null;
  rejects_total: number;
  rejects_by_reason: Record<string, number>;
}

async function monitor(t: TestDatabase, ...flags: string[]): Promise<{ code: number | null; report: Report; stdout: string }> {
  const r = await runCli(['monitor', '--db', t.url, '--json', ...flags]);
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`monitor printed no JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
  expect(report.exit_code).toBe(r.code);
  return { code: r.code, report, stdout: r.stdout };
}

async function call(t: TestDatabase, args = ''): Promise<void> {
  const c = postgres({ host: t.target.host, port: t.target.port, user: t.target.user, password: t.target.password,
    database: t.target.database, max: 1, onnotice: () => undefined });
  await c.unsafe(`CALL backfill_snapshots(quiet => true${args ? ', ' + args : ''})`);
  await c.end();
}

describe.each(testServers())('cowrie-db monitor on $name', (server) => {
  const dbs: TestDatabase[] = [];
  let t: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    t = await freshDatabase(server);
    dbs.push(t);
    await seedInto(t.db.sql, t.db, 1500);
    await call(t);
    dir = mkdtempSync(join(tmpdir(), 'cowrie-db-monitor-'));
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exit 0 / 1 / 2 from the coverage thresholds; the figures equal the SQL function\'s and the table\'s', async () => {
    const base = await monitor(t, '--no-record');
    const cov = base.report.coverage_pct;
    const [truth] = await t.sql`select round(100.0 * count(snapshot_country) / count(*), 2)::float8 as c, count(*)::int as n from session_summaries`;
    expect(cov).toBe(Number(truth!.c));
    expect(base.report.sessions_total).toBe(truth!.n);
    expect(base.report.sessions_pending).toBe(0);
    expect(base.report.last_run_status).toBe('completed');

    const ok = await monitor(t, '--no-record', '--warning', String(Math.floor(cov - 1)), '--critical', String(Math.floor(cov - 2)));
    expect(ok.code).toBe(0);
    expect(ok.report.state).toBe('OK');
    expect(ok.report.reasons).toEqual([]);
    const warn = await monitor(t, '--no-record', '--warning', String(Math.min(100, cov + 0.5)), '--critical', String(Math.floor(cov - 1)));
    expect(warn.code).toBe(1);
    expect(warn.report.state).toBe('WARNING');
    expect(warn.report.reasons.join()).toMatch(/below the warning threshold/);
    const crit = await monitor(t, '--no-record', '--warning', '100', '--critical', String(Math.min(100, cov + 0.5)));
    expect(crit.code).toBe(2);
    expect(crit.report.state).toBe('CRITICAL');

    // psql users get the same row, thresholds included
    const [row] = await t.sql`select state, exit_code, coverage_pct::float8 as c, sessions_pending::int as p
                                from backfill_monitor(warning_pct => 100, critical_pct => ${Math.min(100, cov + 0.5)})`;
    expect(row).toEqual({ state: 'CRITICAL', exit_code: 2, c: cov, p: 0 });
    // the plain output: a plugin-style status line with perfdata
    const plain = await runCli(['monitor', '--db', t.url, '--no-record', '--warning', '100', '--critical', '0']);
    expect(plain.code).toBe(1);
    expect(plain.stdout.split('\n')[0]).toMatch(/^SNAPSHOTS WARNING - coverage .* \| coverage=[\d.]+%;100:;0:;0;100 pending=0 /);
  });

  it('new sessions not getting snapshots: WARNING after --pending-warning, CRITICAL after --pending-critical, OK once a run took them', async () => {
    const low = ['--no-record', '--warning', '0', '--critical', '0'];
    const hourAgo = new Date(Date.now() - 2 * 3600_000).toISOString();
    await insertCopies(t.sql, 'mon_old_', 30, 0, hourAgo);
    const w = await monitor(t, ...low);
    expect(w.report.sessions_pending).toBe(30);
    expect(w.report.oldest_pending_age_s).toBeGreaterThan(7000);
    expect(w.code).toBe(1);
    expect(w.report.reasons.join()).toMatch(/30 sessions wait for a backfill run/);
    const c = await monitor(t, ...low, '--pending-warning', '600', '--pending-critical', '3600');
    expect(c.code).toBe(2);
    expect(c.report.reasons.join()).toMatch(/new sessions are not getting snapshots/);
    await call(t);
    const after = await monitor(t, ...low);
    expect(after.report.sessions_pending).toBe(0);
    expect(after.code).toBe(0);
  });

  it('a failed last run is a WARNING; no completed run within --run-warning is a WARNING', async () => {
    const low = ['--no-record', '--warning', '0', '--critical', '0'];
    const [{ id }] = (await t.sql`select max(run_id)::int as id from backfill_runs`) as unknown as [{ id: number }];
    await t.sql`update backfill_runs set status = 'failed', last_error = '57014: test failure' where run_id = ${id}`;
    try {
      const f = await monitor(t, ...low);
      expect(f.code).toBe(1);
      expect(f.report.last_run_status).toBe('failed');
      expect(f.report.reasons.join()).toMatch(/failed: 57014: test failure/);
    } finally {
      await t.sql`update backfill_runs set status = 'completed', last_error = null where run_id = ${id}`;
    }
    await t.sql`update backfill_runs set finished_at = finished_at - interval '3 days'`;
    try {
      const old = await monitor(t, ...low);
      expect(old.code).toBe(1);
      expect(old.report.reasons.join()).toMatch(/last completed backfill run finished at/);
      expect((await monitor(t, ...low, '--run-warning', '0')).code).toBe(0);
    } finally {
      await t.sql`update backfill_runs set finished_at = finished_at + interval '3 days'`;
    }
  });

  it('rejects by reason since the last recorded check', async () => {
    const low = ['--warning', '0', '--critical', '0'];
    await monitor(t, ...low); // records a check
    const none = await monitor(t, ...low);
    expect(none.report.rejects_since).not.toBeNull();
    expect(none.report.rejects_total).toBe(0);
    await t.sql`insert into session_summaries (session_id, first_event_at, last_event_at, enrichment)
                select 'mon_bad_' || g, now(), now(), '{"session": {"not-an-ip": {}}}' from generate_series(1, 4) g`;
    await call(t);
    const some = await monitor(t, ...low);
    expect(some.report.rejects_total).toBe(4);
    expect(Object.values(some.report.rejects_by_reason).reduce((a, b) => a + b, 0)).toBe(4);
    expect((await monitor(t, ...low)).report.rejects_total).toBe(0);
    // --since counts from a given time, without moving the recorded check
    const all = await monitor(t, ...low, '--no-record', '--since', '2000-01-01T00:00:00Z');
    expect(all.report.rejects_total).toBeGreaterThan(4);
  });

  it('--prometheus: node_exporter textfile, replaced atomically, never written through a symlink', async () => {
    const file = join(dir, 'cowrie.prom');
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'keep me\n');
    symlinkSync(victim, file);
    const r = await runCli(['monitor', '--db', t.url, '--no-record', '--warning', '0', '--critical', '0', '--prometheus', file]);
    expect(r.code).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
    expect(lstatSync(file).isSymbolicLink()).toBe(false);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^# HELP cowrie_snapshot_monitor_state /m);
    expect(text).toMatch(/^cowrie_snapshot_monitor_state 0$/m);
    expect(text).toMatch(/^cowrie_snapshot_coverage_ratio 0\.\d+$/m);
    expect(text).toMatch(/^cowrie_snapshot_sessions\{state="pending"\} 0$/m);
    expect(text).toMatch(/^cowrie_snapshot_last_run_status\{status="completed"\} 1$/m);
    // every sample line is name{labels} value
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \S+ .+|[a-z_]+(\{[a-z_]+="[^"]*"\})? -?[\d.e+-]+)$/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('exit 3 UNKNOWN: no sessions, no engine, no server, bad thresholds', async () => {
    const empty = await freshDatabase(server);
    dbs.push(empty);
    const e = await monitor(empty, '--no-record');
    expect(e.code).toBe(3);
    expect(e.report.state).toBe('UNKNOWN');
    const bare = await freshDatabase(server, { migrate: false });
    dbs.push(bare);
    const b = await monitor(bare);
    expect(b.code).toBe(3);
    expect(b.report.reasons.join()).toMatch(/not installed/);
    const gone = await runCli(['monitor', '--db', 'postgresql://nobody@127.0.0.1:1/none']);
    expect(gone.code).toBe(3);
    expect(gone.stdout).toMatch(/^SNAPSHOTS UNKNOWN - /);
    const file = join(dir, 'unknown.prom');
    const bad = await runCli(['monitor', '--db', t.url, '--warning', '90', '--critical', '95', '--prometheus', file]);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/--critical must not be above --warning/);
    expect(readFileSync(file, 'utf8')).toMatch(/^cowrie_snapshot_monitor_state 3$/m);
    expect((await runCli(['monitor', '--db', t.url, '--warning', '101'])).code).toBe(3);
    await expect(t.sql`select * from backfill_monitor(90, 95)`).rejects.toMatchObject({ code: '22023' });
    expect(existsSync(file)).toBe(true);
  });
});
