// Bench, runner part (issue 5 item 8): the cost of `cowrie-db backfill` (the call
// loop: several CALLs, progress reads, status file) against ONE raw
// `CALL backfill_snapshots(batch_size => 5000)` over the same data, and the
// runner's peak RSS. Not a test. Two databases are seeded identically
// (seed_generate(sessions, seed)); the raw CALL fills one, the CLI the other;
// the final tables must be identical. Repeated --repeat times, alternating order.
//
//   node scripts/bench-runner.ts [--db postgresql://user@host:port/postgres]
//        [--sessions 100000] [--batch-size 5000] [--repeat 2] [--keep] [--prefix bench_runner]
//
// Needs `npm run build` first (it runs dist/runner.js). The server comes from --db,
// else BENCH_DB_URL, else DATABASE_URL (a maintenance database on it; the bench creates
// and drops <prefix>_raw / <prefix>_cli there). Only node builtins and the
// `postgres` client are imported, so that the file also runs type-stripped.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';

interface Args { db: string; sessions: number; batchSize: number; repeat: number; keep: boolean; statusDir: boolean; prefix: string }

function parseArgs(argv: string[]): Args {
  const a: Args = {
    db: process.env.BENCH_DB_URL ?? process.env.DATABASE_URL ?? '',
    sessions: 100_000, batchSize: 5000, repeat: 2, keep: false, statusDir: true, prefix: 'bench_runner',
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--db') a.db = v();
    else if (k === '--sessions') a.sessions = Number(v());
    else if (k === '--batch-size') a.batchSize = Number(v());
    else if (k === '--repeat') a.repeat = Number(v());
    else if (k === '--keep') a.keep = true;
    else if (k === '--prefix') a.prefix = v().replace(/[^a-z0-9_]/g, '_');
    else if (k === '--no-status-dir') a.statusDir = false;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.db) throw new Error('give the server: --db postgresql://user@host:port/postgres (or BENCH_DB_URL)');
  return a;
}

const root = process.cwd();
const cli = join(root, 'dist', 'runner.js');

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, ms: performance.now() - t0 }));
  });
}

async function prepare(admin: postgres.Sql, url: string, name: string, a: Args): Promise<void> {
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  const m = await run(process.execPath, [cli, 'migrate', '--db', withDatabase(url, name), '--quiet']);
  if (m.code !== 0) throw new Error(`migrate ${name} failed: ${m.stderr}`);
  const sql = postgres(withDatabase(url, name), { max: 1, onnotice: () => undefined });
  try {
    for (const f of readdirSync(join(root, 'sql', 'seed')).filter((x) => x.endsWith('.sql')).sort()) {
      await sql.unsafe(readFileSync(join(root, 'sql', 'seed', f), 'utf8')).simple();
    }
    await sql.begin(async (tx) => {
      await tx`select * from seed_generate(${a.sessions}, 42)`;
    });
    await sql`vacuum analyze session_summaries`;
    await sql`checkpoint`;
  } finally {
    await sql.end();
  }
}

async function fingerprint(url: string, name: string): Promise<string> {
  const sql = postgres(withDatabase(url, name), { max: 1, onnotice: () => undefined });
  try {
    const [r] = await sql`select md5(string_agg(concat_ws('|', session_id, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type, enrichment_at), ',' order by session_id)) as h from session_summaries`;
    return String(r?.h);
  } finally {
    await sql.end();
  }
}

/** One raw CALL, as a DBA would type it in psql; returns its duration in ms. */
async function rawCall(url: string, a: Args): Promise<{ ms: number; batches: number; rows: number; busyMs: number }> {
  const sql = postgres(withDatabase(url, `${a.prefix}_raw`), { max: 1, onnotice: () => undefined, connection: { statement_timeout: 0 } });
  try {
    await sql`select 1`;
    const t0 = performance.now();
    await sql.unsafe('CALL backfill_snapshots(batch_size => $1::integer)', [a.batchSize]);
    const ms = performance.now() - t0;
    const [r] = await sql`select batches, rows_scanned, elapsed_ms from backfill_runs order by run_id desc limit 1`;
    return { ms, batches: Number(r?.batches), rows: Number(r?.rows_scanned), busyMs: Number(r?.elapsed_ms) };
  } finally {
    await sql.end();
  }
}

async function runnerCall(url: string, a: Args): Promise<{ ms: number; loopMs: number; busyMs: number; rssMb: number; calls: number; batches: number }> {
  const args = [cli, 'backfill', '--db', withDatabase(url, `${a.prefix}_cli`), '--batch-size', String(a.batchSize), '--json', '--quiet', '--no-indexes'];
  if (a.statusDir) args.push('--status-dir', join(root, 'node_modules', '.cache', 'bench-runner-status'));
  const r = await run(process.execPath, args);
  if (r.code !== 0) throw new Error(`cowrie-db backfill failed (${r.code}): ${r.stderr}`);
  const s = JSON.parse(r.stdout) as { batches: number; run_seconds: number; this_invocation: { seconds: number; calls: number; max_rss_mb: number } };
  return { ms: r.ms, loopMs: s.this_invocation.seconds * 1000, busyMs: s.run_seconds * 1000, rssMb: s.this_invocation.max_rss_mb, calls: s.this_invocation.calls, batches: s.batches };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const admin = postgres(a.db, { max: 1, onnotice: () => undefined });
  const rows: string[] = [];
  let worst = 0;
  let peak = 0;
  try {
    console.log(`runner bench: ${a.sessions.toLocaleString('en-US')} sessions, batch size ${a.batchSize}, ${a.repeat} round(s)`);
    for (let i = 0; i < a.repeat; i++) {
      await prepare(admin, a.db, `${a.prefix}_raw`, a);
      await prepare(admin, a.db, `${a.prefix}_cli`, a);
      // alternate the order, so that neither always runs on a warmer cache
      let raw: Awaited<ReturnType<typeof rawCall>>;
      let cliRun: Awaited<ReturnType<typeof runnerCall>>;
      if (i % 2 === 0) {
        raw = await rawCall(a.db, a);
        cliRun = await runnerCall(a.db, a);
      } else {
        cliRun = await runnerCall(a.db, a);
        raw = await rawCall(a.db, a);
      }
      const same = (await fingerprint(a.db, `${a.prefix}_raw`)) === (await fingerprint(a.db, `${a.prefix}_cli`));
      // The batches themselves vary from run to run (a shared machine): compare the time
      // spent OUTSIDE the batches (wall - busy), which is what the loop adds.
      const overhead = ((cliRun.loopMs - cliRun.busyMs) - (raw.ms - raw.busyMs)) / raw.ms;
      const ratio = cliRun.loopMs / raw.ms - 1;
      const overheadProcess = cliRun.ms / raw.ms - 1;
      worst = Math.max(worst, overhead);
      peak = Math.max(peak, cliRun.rssMb);
      rows.push(
        `round ${i + 1}: raw CALL ${(raw.ms / 1000).toFixed(2)} s (${raw.batches} batches, ${Math.round(raw.rows / (raw.ms / 1000))} rows/s) | ` +
          `runner loop ${(cliRun.loopMs / 1000).toFixed(2)} s in ${cliRun.calls} CALLs (${cliRun.batches} batches), ` +
          `overhead ${(overhead * 100).toFixed(1)}% (time outside batches: runner ${((cliRun.loopMs - cliRun.busyMs) / 1000).toFixed(2)} s, raw ${((raw.ms - raw.busyMs) / 1000).toFixed(2)} s; ` +
          `plain wall ratio ${(ratio * 100).toFixed(1)}%, whole process incl. node start-up ${(overheadProcess * 100).toFixed(1)}%), ` +
          `peak RSS ${cliRun.rssMb} MB, tables ${same ? 'identical' : 'DIFFERENT'}`,
      );
      console.log(rows.at(-1));
      if (!same) process.exitCode = 1;
    }
    console.log(`runner overhead vs one raw CALL: worst ${(worst * 100).toFixed(1)}% (target <= 5%); runner peak RSS ${peak} MB (target < 150 MB)`);
    if (!a.keep) for (const d of [`${a.prefix}_raw`, `${a.prefix}_cli`]) await admin.unsafe(`drop database if exists ${d} with (force)`);
  } finally {
    await admin.end();
  }
}

await main();
