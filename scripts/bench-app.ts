// Bench helper, `app` variant: the application's writes played by pgbench (Debian's
// PostgreSQL 15 client) against a fresh copy of the bench template, in three phases:
//   (a) quiet   pgbench alone for T seconds: the baseline;
//   (b) during  pgbench for T seconds during a one-worker backfill (undo on,
//               throttle => false);
//   (c) throttled  the same with throttling on at its defaults plus a WAL-rate limit
//               of half the WAL rate measured in (b) (server-wide: backfill + app), so
//               that the throttling shows on this machine.
// The script (one transaction): UPDATE of a random existing session's upstream
// columns (last_event_at, event_count, command_count, updated_at; never a snapshot
// column) and INSERT of a new session (random 32-hex id) with a copy of an existing
// loader-shaped row's enrichment and source_files. 0 failed transactions required.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';

export const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';

const SCRIPT = String.raw`\set r random(0, 281474976710655)
BEGIN;
UPDATE session_summaries
   SET last_event_at = last_event_at + interval '1 second',
       event_count = event_count + 1,
       command_count = command_count + 1,
       updated_at = now()
 WHERE session_id = (SELECT session_id FROM session_summaries
                      WHERE session_id >= lpad(to_hex(CAST(:r AS bigint)), 12, '0')
                      ORDER BY session_id LIMIT 1);
INSERT INTO session_summaries (session_id, first_event_at, last_event_at, event_count, command_count,
                               login_attempts, source_files, enrichment, created_at, updated_at)
SELECT replace(CAST(gen_random_uuid() AS text), '-', ''), now() - interval '90 seconds', now(), 4, 1, 1,
       s.source_files, s.enrichment, now(), now()
  FROM session_summaries s
 WHERE s.session_id >= lpad(to_hex(CAST(:r AS bigint)), 12, '0')
   AND s.enrichment -> 'session' IS NOT NULL
 ORDER BY s.session_id LIMIT 1;
COMMIT;
`;

interface PgbenchResult {
  tps: number;
  latencyMs: number;
  transactions: number;
  failed: number;
  aborted: string | undefined; // pgbench's complaint when it did not end cleanly
}

interface Backfill {
  seconds: number;
  walBytes: number;
  throttledSeconds: number;
  reasons: Map<string, { spells: number; example: string }>;
}

function pgbench(url: string, script: string, seconds: number): Promise<PgbenchResult> {
  const u = new URL(url);
  const args = ['-n', '-c', '4', '-j', '2', '-T', String(seconds), '-f', script, '--max-tries', '10', '--failures-detailed',
    '-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username), u.pathname.slice(1)];
  return new Promise((resolve, reject) => {
    // the password goes in the environment, never in argv
    const child = spawn(PGBENCH, args, { env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password), PGAPPNAME: 'cowrie-db-bench-app' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
      const failed = num(/number of failed transactions: (\d+)/);
      resolve({
        tps: num(/tps = ([\d.]+)/),
        latencyMs: num(/latency average = ([\d.]+) ms/),
        transactions: num(/number of transactions actually processed: (\d+)/),
        failed: Number.isNaN(failed) ? 0 : failed,
        aborted: code === 0 ? undefined : `pgbench exited ${code}: ${err.trim().split('\n').slice(-2).join(' / ')}`,
      });
    });
  });
}

function signalOf(reason: string): string {
  if (reason.startsWith('standby')) return 'replica_lag';
  if (reason.startsWith('WAL written')) return 'wal_rate';
  if (reason.startsWith('transaction') || reason.startsWith('prepared')) return 'xmin_horizon';
  return 'vacuum';
}

/** One backfill CALL with pgbench running during it (from the moment its worker is registered). */
async function duringBackfill(url: string, call: string, script: string, seconds: number): Promise<{ app: PgbenchResult; backfill: Backfill; overlap: number }> {
  const reasons = new Map<string, { spells: number; example: string }>();
  const onnotice = (n: postgres.Notice) => {
    const m = /throttled: (.*)$/.exec(String(n.message));
    if (!m) return;
    const signal = signalOf(m[1]!);
    const r = reasons.get(signal) ?? { spells: 0, example: m[1]! };
    r.spells++;
    reasons.set(signal, r);
  };
  const c = postgres(url, { max: 1, onnotice, connection: { application_name: 'cowrie-db-bench' } });
  const watch = postgres(url, { max: 1, onnotice: () => undefined });
  await c`set statement_timeout = 0`;
  await c`checkpoint`;
  const [{ lsn }] = (await c`select pg_current_wal_lsn()::text as lsn`) as unknown as [{ lsn: string }];
  const s0 = performance.now();
  let ended: number | undefined;
  const run = c.unsafe(call).finally(() => {
    ended = performance.now();
  });
  run.catch(() => undefined); // awaited below
  while (ended === undefined && Number((await watch`select count(*) as n from backfill_workers`)[0]!.n) < 1) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const a0 = performance.now();
  const app = await pgbench(url, script, seconds);
  const a1 = performance.now();
  const [res] = await run;
  const backfillSeconds = (ended! - s0) / 1000;
  const overlap = Math.max(0, (Math.min(a1, ended!) - a0) / 1000);
  if (res?.status !== 'completed') throw new Error(`app: the backfill ended ${String(res?.status)}`);
  const [w] = await watch`select pg_wal_lsn_diff(pg_current_wal_lsn(), ${lsn}::pg_lsn)::bigint as bytes,
                                 extract(epoch from throttled_time)::float8 as throttled
                            from backfill_progress where run_id = ${Number(res.run_id)}`;
  await c.end();
  await watch.end();
  return { app, overlap, backfill: { seconds: backfillSeconds, walBytes: Number(w!.bytes), throttledSeconds: Number(w!.throttled), reasons } };
}

const fmtApp = (p: PgbenchResult) =>
  `${p.tps.toFixed(0)} tps, ${p.latencyMs.toFixed(1)} ms avg latency, ${p.transactions} transactions, ${p.failed} failed${p.aborted ? ` (${p.aborted})` : ''}`;

/**
 * The three phases, each on a fresh copy (`fresh()` recreates the run database).
 * Returns the lines to print and whether the app had 0 failed transactions.
 */
export async function appPhases(opts: { url: string; fresh: () => Promise<void>; seconds: number; batchSize: number; log: (m: string) => void }): Promise<{ ok: boolean; lines: string[] }> {
  if (!existsSync(PGBENCH)) {
    return { ok: true, lines: [`app: skipped: ${PGBENCH} not found (Debian's postgresql-15 package, installed by .ci/run, provides it)`] };
  }
  const dir = mkdtempSync(join(tmpdir(), 'cowrie-bench-app-'));
  const script = join(dir, 'app.sql');
  writeFileSync(script, SCRIPT);
  try {
    const T = opts.seconds;
    opts.log(`app: (a) quiet baseline, pgbench ${T} s`);
    await opts.fresh();
    const quiet = await pgbench(opts.url, script, T);
    opts.log(`app: (b) pgbench during a backfill (throttle => false)`);
    await opts.fresh();
    const b = await duringBackfill(opts.url, `CALL backfill_snapshots(batch_size => ${opts.batchSize}, quiet => true, run_analyze => false, throttle => false)`, script, T);
    const walRate = b.backfill.walBytes / b.backfill.seconds;
    const limit = Math.max(1, Math.round(walRate / 2));
    opts.log(`app: (c) pgbench during a backfill throttled at the defaults + throttle_wal_bytes_per_sec => ${limit}`);
    await opts.fresh();
    const c = await duringBackfill(
      opts.url,
      `CALL backfill_snapshots(batch_size => ${opts.batchSize}, quiet => false, progress_every => 1000000, run_analyze => false, throttle => true, throttle_wal_bytes_per_sec => ${limit})`,
      script,
      T,
    );
    const all = [quiet, b.app, c.app];
    const failed = all.reduce((n, p) => n + p.failed, 0);
    const ok = failed === 0 && all.every((p) => !p.aborted && !Number.isNaN(p.tps));
    const vs = (p: PgbenchResult) => `(${((p.tps / quiet.tps) * 100).toFixed(0)}% of the quiet tps, latency x${(p.latencyMs / quiet.latencyMs).toFixed(2)})`;
    const reasons = [...c.backfill.reasons].map(([s, r]) => `${s} x${r.spells} (e.g. "${r.example}")`).join('; ') || 'none';
    return {
      ok,
      lines: [
        `app (pgbench 15, -c 4 -j 2, ${T} s per phase; a session UPDATE + an INSERT per transaction):`,
        `  (a) quiet baseline:          ${fmtApp(quiet)}`,
        `  (b) during the backfill:     ${fmtApp(b.app)} ${vs(b.app)}; backfill ${b.backfill.seconds.toFixed(1)} s ` +
          `(pgbench overlapped it ${b.overlap.toFixed(1)} s), WAL ${(walRate / 1048576).toFixed(1)} MB/s, throttle => false`,
        `  (c) throttled backfill:      ${fmtApp(c.app)} ${vs(c.app)}; backfill ${c.backfill.seconds.toFixed(1)} s ` +
          `(pgbench overlapped it ${c.overlap.toFixed(1)} s), throttled ${c.backfill.throttledSeconds.toFixed(1)} s, ` +
          `defaults + throttle_wal_bytes_per_sec => ${limit} (half of (b)'s ${(walRate / 1048576).toFixed(1)} MB/s)`,
        `      throttling reasons: ${reasons}`,
        `  target: 0 failed transactions: ${ok ? 'PASS' : 'FAIL'} (${failed} failed${all.some((p) => p.aborted) ? ', pgbench aborted' : ''})`,
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
