// npm run bench -- [--db URL] [--sessions N] [--ips N] [--seed N] [--batch-size N] [--only a,b]
//                  [--cpus N] [--app-seconds N] [--keep] [--reuse]
//
// The backfill benchmark of issues 4 and 19 (not a test). Seeds the production size
// (1,682,827 sessions, 38,864 IPs) once into a template database, then, each on a
// fresh copy of it (CREATE DATABASE ... TEMPLATE), times:
//   floor   a single set-based UPDATE doing the same fill (same snapshot rule,
//           backfill_snapshot_source; no batches, no locks, no undo): the floor.
//           By default it runs first, in the middle and last: the ratios to the floor
//           are to the mean of the floor's runs, because a single floor varies more from
//           run to run than the backfill does and the machine's speed can drift during
//           the bench; each floor run is printed. A variant named more than once in
//           --only is judged on the mean of its runs.
//   keyset  reference: the floor's UPDATE over keyset batches of the primary key, a
//           COMMIT each, nothing else (no locks, checkpoint, rejects, counters, undo):
//           what walking the table in primary-key order costs by itself
//   rule    reference: the snapshot rule alone, read-only, every output the backfill
//           uses, over the same keyset batches: the least a dry run can cost
//   undo    CALL backfill_snapshots(batch_size => 2500)                 (undo log on)
//   noundo  CALL backfill_snapshots(batch_size => 2500, record_undo => false)
//   dry     CALL backfill_snapshots(batch_size => 2500, dry_run => true)
//   call    CALL backfill_snapshots(batch_size => 2500)   (as typed in psql: ANALYZE at the end)
//   runner  cowrie-db backfill --batch-size 2500 --no-indexes   (the CLI over the same data)
//   undo2, noundo2  two workers: the first CALL ... workers => 2 on one connection and,
//           once it is registered in backfill_workers, the same CALL on a second one
//           (undo log on / off); batch and lock figures over both workers' batches
//   runner2 cowrie-db backfill --workers 2 --batch-size 2500 --no-indexes
//   app     (pgbench) the application's writes alone, during a backfill, and during a
//           throttled backfill (scripts/bench-app.ts); --app-seconds per phase (30)
//   incremental  (not in the default list; --only incremental) the first CALL, then the
//           open sessions' partial index built CONCURRENTLY as `cowrie-db backfill` does,
//           then the second CALL on the unchanged database (target < 2 s) and the
//           third after 10,000 new sessions (copies with NULL snapshot columns) were
//           inserted: it must look at exactly those 10,000 (target), in time
//           proportional to them; printed on a line of its own
// Every timed CALL and runner passes throttle => false (--no-throttle): health
// throttling would time the machine's load, not the backfill.
// A variant name with the suffix @Ncpu (floor@1cpu, undo2@1cpu) runs with the server
// bound to its first N CPUs (scripts/bench-cpus.ts: taskset on the postmaster and its
// children, given back afterwards; needs the server on this machine); --cpus N does
// that for every variant of the list. Its ratios are to the references measured at
// the same CPU count; the targets are judged on the variants without a suffix only,
// and a "scaling" table compares each variant measured at several CPU counts.
// Printed: rows/s, each time as a ratio to the floor and to the variant's reference
// (keyset for undo/noundo/call, rule for dry, the floor for the two-worker variants,
// the raw CALL for the runner), the batch latency p50/p99/max
// (backfill_batches.duration_ms), how long each batch held its row locks p50/p99/max
// (backfill_batches.lock_ms: from its first row lock to just before its COMMIT), the
// backend CPU time when the server is local, the WAL written, the table size before
// and after; an md5 of the snapshot columns of every session after each real run
// (undo, noundo, call, runner and the two-worker variants): they must be identical;
// then the targets with PASS/FAIL, and a markdown table of the runs.
// Targets (issue 19, 2 cores): undo <= 1.20x keyset, noundo <= 1.10x keyset,
// dry <= 1.15x rule, undo2 <= 0.80x the floor, row locks held per batch p99 < 250 ms
// with one and with two workers, runner and runner2 peak RSS < 150 MB, the runner
// within 5% of the raw CALL, 0 failed app transactions, identical final tables.
// Run it with npm run bench (tsx). Results go to stdout, progress to stderr.
// --db is a URL to the server (any database on it; default $DATABASE_URL, else the
// embedded PostgreSQL 17); the bench creates and drops the
// databases cowrie_bench_tpl and cowrie_bench_run there (--keep keeps them; --reuse
// reuses a kept cowrie_bench_tpl of the same --sessions/--ips/--seed instead of seeding again).
// Exit code 0 when every target is met, 1 otherwise.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { appPhases } from './bench-app.js';
import { bindServer, MACHINE_CPUS, postmasterPid } from './bench-cpus.js';

// The built runner (npm run bench builds it first); typed from its sources.
const { openTarget } = (await import('../dist/db/connect.js' as string)) as typeof import('../src/db/connect.js');
const { installObjects, migrateUp } = (await import('../dist/db/migrate.js' as string)) as typeof import('../src/db/migrate.js');
const { resolveTarget } = (await import('../dist/db/target.js' as string)) as typeof import('../src/db/target.js');
const { runCleanups } = (await import('../dist/lifecycle.js' as string)) as typeof import('../src/lifecycle.js');

const BASES = ['floor', 'keyset', 'rule', 'undo', 'noundo', 'dry', 'call', 'runner', 'undo2', 'noundo2', 'runner2', 'incremental', 'app'];
/** Variants that fill the table for real: their final tables must be identical. */
const REAL = new Set(['undo', 'noundo', 'call', 'runner', 'undo2', 'noundo2', 'runner2']);
/** The reference each variant's "x ref" ratio is to (at the same CPU count). */
const REFERENCE: Record<string, string> = {
  keyset: 'floor', rule: 'floor', undo: 'keyset', noundo: 'keyset', call: 'keyset', dry: 'rule',
  undo2: 'floor', noundo2: 'floor', runner2: 'floor', runner: 'call',
};

interface Variant {
  label: string; // base, or base@Ncpu
  base: string;
  cpus: number | undefined; // undefined: every CPU of the machine
}

interface Options {
  url: string;
  sessions: number;
  ips: number;
  seed: number;
  batchSize: number;
  only: Variant[];
  appSeconds: number;
  keep: boolean;
  reuse: boolean;
}

const DEFAULT_LIST = [
  'floor', 'keyset', 'rule', 'noundo', 'undo', 'undo2', 'floor', 'noundo2', 'dry', 'call', 'runner', 'runner2', 'floor',
  'floor@1cpu', 'undo2@1cpu', 'app',
];

function parseVariant(spec: string, cpusForAll: number | undefined): Variant {
  const m = /^([a-z0-9]+)(?:@(\d+)cpu)?$/.exec(spec);
  if (!m || !BASES.includes(m[1]!)) throw new Error(`unknown variant ${spec} (known: ${BASES.join(', ')}; a suffix @Ncpu binds the server to N CPUs)`);
  const base = m[1]!;
  const noCpus = base === 'app' || base === 'incremental';
  if (m[2] !== undefined && noCpus) throw new Error(`${spec}: ${base} has no @Ncpu form`);
  let cpus = m[2] !== undefined ? Number(m[2]) : noCpus ? undefined : cpusForAll;
  if (cpus !== undefined && (!Number.isInteger(cpus) || cpus < 1 || cpus > MACHINE_CPUS)) throw new Error(`${spec}: CPUs must be 1..${MACHINE_CPUS}`);
  if (cpus === MACHINE_CPUS) cpus = undefined;
  return { label: cpus === undefined ? base : `${base}@${cpus}cpu`, base, cpus };
}

function parseArgs(argv: string[]): Options {
  let only = DEFAULT_LIST;
  let cpusForAll: number | undefined;
  const o: Omit<Options, 'only'> = {
    // Empty: the embedded PostgreSQL 17 (started for the bench, stopped after it).
    url: process.env.DATABASE_URL ?? '',
    sessions: 1_682_827,
    ips: 0,
    seed: 1,
    batchSize: 2500, // the procedure's default
    appSeconds: 30,
    keep: false,
    reuse: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--db') o.url = v();
    else if (a === '--sessions') o.sessions = Number(v());
    else if (a === '--ips') o.ips = Number(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--batch-size') o.batchSize = Number(v());
    else if (a === '--only') only = v().split(',');
    else if (a === '--cpus') cpusForAll = Number(v());
    else if (a === '--app-seconds') o.appSeconds = Number(v());
    else if (a === '--keep') o.keep = true;
    else if (a === '--reuse') o.reuse = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.sessions) || o.sessions < 1) throw new Error('--sessions must be a positive integer');
  if (o.ips === 0) o.ips = Math.max(1, Math.round((o.sessions * 38_864) / 1_682_827)); // the production ratio
  if (!Number.isInteger(o.ips) || o.ips < 1 || o.ips > o.sessions) throw new Error('--ips must be 1..sessions');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1 || o.batchSize > 1_000_000) throw new Error('--batch-size must be 1..1000000');
  if (!Number.isInteger(o.appSeconds) || o.appSeconds < 1 || o.appSeconds > 3600) throw new Error('--app-seconds must be 1..3600');
  if (cpusForAll !== undefined && (!Number.isInteger(cpusForAll) || cpusForAll < 1)) throw new Error('--cpus must be a positive integer');
  return { ...o, only: only.map((s) => parseVariant(s, cpusForAll)) };
}

const TPL = 'cowrie_bench_tpl';
const RUN = 'cowrie_bench_run';

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}

function client(url: string): postgres.Sql {
  return postgres(url, { max: 1, onnotice: () => undefined, connection: { application_name: 'cowrie-db-bench' } });
}

/** CPU seconds (user + system) of a local backend, or undefined when not readable. */
function cpuOf(pid: number): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

/** The fill, as one UPDATE from `source`, a relation aliased v with the rule's values. */
const fillFrom = (source: string) => `
UPDATE session_summaries s
SET source_ip        = COALESCE(s.source_ip, v.new_source_ip),
    snapshot_asn     = COALESCE(s.snapshot_asn, v.new_snapshot_asn),
    snapshot_country = COALESCE(s.snapshot_country, v.new_snapshot_country),
    snapshot_ip_type = COALESCE(s.snapshot_ip_type, v.new_snapshot_ip_type),
    enrichment_at    = COALESCE(s.enrichment_at, v.new_enrichment_at)
FROM ${source}
WHERE s.ctid = v.tid
  AND v.reject_reason IS NULL
  AND ((v.source_ip IS NULL AND v.new_source_ip IS NOT NULL)
       OR (v.snapshot_asn IS NULL AND v.new_snapshot_asn IS NOT NULL)
       OR (v.snapshot_country IS NULL AND v.new_snapshot_country IS NOT NULL)
       OR (v.snapshot_ip_type IS NULL AND v.new_snapshot_ip_type IS NOT NULL)
       OR (v.enrichment_at IS NULL AND v.new_enrichment_at IS NOT NULL))`;

// OFFSET 0 keeps v a subquery, so each output of the rule is computed once per row
// (pulled up, every reference in SET and WHERE would evaluate it again): the faster floor.
const FLOOR = fillFrom(`(SELECT s2.ctid AS tid, s2.source_ip, s2.snapshot_asn, s2.snapshot_country, s2.snapshot_ip_type,
             s2.enrichment_at, src.*
        FROM session_summaries s2
       CROSS JOIN LATERAL backfill_snapshot_source(s2.enrichment, s2.first_event_at, s2.created_at) src
       WHERE s2.source_ip IS NULL OR s2.snapshot_asn IS NULL OR s2.snapshot_country IS NULL
          OR s2.snapshot_ip_type IS NULL OR s2.enrichment_at IS NULL
      OFFSET 0) v`);

// The keyset references walk the primary key from '' (seeded session ids are never
// empty) in batches of :batch sessions that still have a NULL snapshot column.
// Rejected and unchanged rows are not filled, so the next page starts after the
// last key read (as the backfill's checkpoint does), not after the last row filled.
const KEYSET_PAGE = `
  SELECT s2.ctid AS tid, s2.session_id, s2.source_ip, s2.snapshot_asn, s2.snapshot_country,
         s2.snapshot_ip_type, s2.enrichment_at, s2.enrichment, s2.first_event_at, s2.created_at
    FROM session_summaries s2
   WHERE s2.session_id > k
     AND (s2.source_ip IS NULL OR s2.snapshot_asn IS NULL OR s2.snapshot_country IS NULL
          OR s2.snapshot_ip_type IS NULL OR s2.enrichment_at IS NULL)
   ORDER BY s2.session_id
   LIMIT :batch`;

const KEYSET = `
DO $bench$
DECLARE k text := '';
BEGIN
  PERFORM set_config('synchronous_commit', 'off', false); -- as the backfill's batches
  LOOP
    WITH page AS MATERIALIZED (${KEYSET_PAGE}),
    v AS MATERIALIZED (
      SELECT p.*, src.new_source_ip, src.new_snapshot_asn, src.new_snapshot_country,
             src.new_snapshot_ip_type, src.new_enrichment_at, src.reject_reason
        FROM page p CROSS JOIN LATERAL backfill_snapshot_source(p.enrichment, p.first_event_at, p.created_at) src),
    u AS (${fillFrom('v')})
    SELECT max(v.session_id) INTO k FROM v;  -- u runs to completion whether read or not
    EXIT WHEN k IS NULL;
    COMMIT;
  END LOOP;
END
$bench$`;

const RULE = `
DO $bench$
DECLARE k text := '';
BEGIN
  LOOP
    WITH v AS MATERIALIZED (
      SELECT p.session_id, src.*
        FROM (${KEYSET_PAGE}) p
       CROSS JOIN LATERAL backfill_snapshot_source(p.enrichment, p.first_event_at, p.created_at) src)
    SELECT max(v.session_id) INTO k FROM v;
    EXIT WHEN k IS NULL;
  END LOOP;
END
$bench$`;

/** The reference variants: no backfill run, so no batch figures. */
const REFERENCES = new Set(['floor', 'keyset', 'rule']);

interface Result {
  label: string;
  base: string;
  cpus: number | undefined;
  seconds: number;
  cpu?: number;
  rows: number;
  p50?: number;
  p99?: number;
  max?: number;
  batches?: number;
  lockP50?: number;
  lockP99?: number;
  lockMax?: number;
  rssMb?: number;
  fingerprint?: string;
  note?: string;
  sizeBefore: string;
  sizeAfter: string;
  walMB: number;
}

function statement(base: string, batchSize: number): string {
  const call = (args: string) => `CALL backfill_snapshots(batch_size => ${batchSize}, ${args}quiet => true, throttle => false)`;
  switch (base) {
    case 'floor':
      return FLOOR;
    case 'keyset':
      return KEYSET.replaceAll(':batch', String(batchSize));
    case 'rule':
      return RULE.replaceAll(':batch', String(batchSize));
    case 'undo':
      return call('run_analyze => false, ');
    case 'noundo':
      return call('record_undo => false, run_analyze => false, ');
    case 'dry':
      return call('dry_run => true, ');
    case 'call':
      // what a DBA types in psql (ANALYZE at the end included): the runner's reference
      return call('');
    case 'undo2':
      return call('workers => 2, run_analyze => false, ');
    case 'noundo2':
      return call('workers => 2, record_undo => false, run_analyze => false, ');
    default:
      throw new Error(`unknown variant ${base}`);
  }
}

/**
 * `cowrie-db backfill` (the built CLI) over the same data as the raw CALL: the whole
 * process, Node start-up included. The URL goes in the environment, not in argv.
 * Returns the runner's peak RSS in MB.
 */
function runner(url: string, batchSize: number, workers: number): Promise<number> {
  const cli = fileURLToPath(new URL('../dist/runner.js', import.meta.url));
  const args = [cli, 'backfill', '--batch-size', String(batchSize), '--workers', String(workers), '--no-throttle', '--json', '--quiet', '--no-indexes'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, DATABASE_URL: url, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`cowrie-db backfill exited ${code}: ${err.trim().split('\n').slice(-3).join(' / ')}`));
      const summary = JSON.parse(out) as { status: string; this_invocation: { max_rss_mb: number } };
      if (summary.status !== 'completed') return reject(new Error(`cowrie-db backfill ended ${summary.status}`));
      resolve(summary.this_invocation.max_rss_mb);
    });
  });
}

async function recreate(admin: postgres.Sql, name: string, template?: string): Promise<void> {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
}

/** md5 of the snapshot columns of every session in key order (as test/backfill-cli.helpers.ts). */
async function snapshotFingerprint(c: postgres.Sql): Promise<string> {
  const [row] = await c`
    select md5(coalesce(string_agg(concat_ws('|', session_id, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type,
                                             extract(epoch from enrichment_at)), E'\\n' order by session_id), '')) as md5
      from session_summaries`;
  return String(row!.md5);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Two workers of one run: the CALL on `c`, and once it is registered in
 * backfill_workers, the same CALL on `c2`. Returns a note when the second did not
 * join the first's run (the first finished before: only at tiny sizes).
 */
async function twoWorkers(c: postgres.Sql, c2: postgres.Sql, text: string): Promise<string | undefined> {
  let firstDone = false;
  const first = c.unsafe(text).finally(() => (firstDone = true));
  first.catch(() => undefined); // awaited below
  while (!firstDone && Number((await c2`select count(*) as n from backfill_workers`)[0]!.n) < 1) await sleep(20);
  const second = c2.unsafe(text);
  const [[r1], [r2]] = await Promise.all([first, second]);
  const statuses = [String(r1!.status), String(r2!.status)];
  if (!statuses.includes('completed')) throw new Error(`two workers ended ${statuses.join(' and ')}`);
  if (Number(r1!.run_id) !== Number(r2!.run_id)) return 'the second worker did not join the first one\'s run';
  return undefined;
}

async function runVariant(admin: postgres.Sql, url: string, v: Variant, batchSize: number, log: (m: string) => void): Promise<Result> {
  await recreate(admin, RUN, TPL);
  const postmaster = v.cpus === undefined ? undefined : await postmasterPid(admin);
  if (postmaster !== undefined) bindServer(postmaster, v.cpus!);
  try {
    const c = client(url);
    const c2 = v.base === 'undo2' || v.base === 'noundo2' ? client(url) : undefined;
    const pids: number[] = [];
    for (const s of c2 ? [c, c2] : [c]) {
      pids.push(Number((await s`select pg_backend_pid() as pid`)[0]!.pid));
      await s`set statement_timeout = 0`;
    }
    await c`checkpoint`;
    const [{ size: sizeBefore }] = (await c`select pg_size_pretty(pg_total_relation_size('session_summaries')) as size`) as unknown as [{ size: string }];
    const [{ n: candidates }] = (await c`
      select count(*)::bigint as n from session_summaries
       where source_ip is null or snapshot_asn is null or snapshot_country is null
          or snapshot_ip_type is null or enrichment_at is null`) as unknown as [{ n: string }];
    log(`${v.label}: running`);
    const [{ lsn: wal0 }] = (await c`select pg_current_wal_lsn()::text as lsn`) as unknown as [{ lsn: string }];
    const cpuNow = () => {
      const xs = pids.map(cpuOf);
      return xs.every((x) => x !== undefined) ? (xs as number[]).reduce((a, b) => a + b, 0) : undefined;
    };
    const c0 = cpuNow();
    const s0 = performance.now();
    let rssMb: number | undefined;
    let note: string | undefined;
    if (v.base === 'runner' || v.base === 'runner2') rssMb = await runner(url, batchSize, v.base === 'runner2' ? 2 : 1);
    else if (c2) note = await twoWorkers(c, c2, statement(v.base, batchSize));
    else await c.unsafe(statement(v.base, batchSize));
    const seconds = (performance.now() - s0) / 1000;
    const c1 = cpuNow();
    const [{ bytes: walBytes }] = (await c`select pg_wal_lsn_diff(pg_current_wal_lsn(), ${wal0}::pg_lsn)::bigint as bytes`) as unknown as [{ bytes: string }];
    const [{ size: sizeAfter }] = (await c`select pg_size_pretty(pg_total_relation_size('session_summaries')) as size`) as unknown as [{ size: string }];
    const r: Result = { label: v.label, base: v.base, cpus: v.cpus, seconds, rows: Number(candidates), sizeBefore, sizeAfter, walMB: Number(walBytes) / 1048576 };
    if (c0 !== undefined && c1 !== undefined && rssMb === undefined) r.cpu = c1 - c0;
    if (rssMb !== undefined) r.rssMb = rssMb;
    if (note !== undefined) r.note = note;
    if (!REFERENCES.has(v.base)) {
      const [b] = await c`
        select percentile_cont(0.5) within group (order by duration_ms) as p50,
               percentile_cont(0.99) within group (order by duration_ms) as p99,
               max(duration_ms) as max, count(*)::int as n,
               percentile_cont(0.5) within group (order by lock_ms) as lock_p50,
               percentile_cont(0.99) within group (order by lock_ms) as lock_p99,
               max(lock_ms) as lock_max
          from backfill_batches`;
      Object.assign(r, { p50: Number(b!.p50), p99: Number(b!.p99), max: Number(b!.max), batches: Number(b!.n) });
      if (b!.lock_max !== null) Object.assign(r, { lockP50: Number(b!.lock_p50), lockP99: Number(b!.lock_p99), lockMax: Number(b!.lock_max) });
    }
    log(`${v.label}: ${seconds.toFixed(1)} s`);
    if (REAL.has(v.base)) r.fingerprint = await snapshotFingerprint(c);
    await c.end();
    await c2?.end();
    return r;
  } finally {
    if (postmaster !== undefined) bindServer(postmaster, MACHINE_CPUS);
  }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (!o.url) {
    const embedded = await openTarget({ kind: 'embedded' });
    const t = embedded.target;
    o.url = `postgresql://${t.user}:${encodeURIComponent(t.password ?? '')}@${t.host}:${t.port}/postgres`;
    await embedded.close();
  }
  const admin = client(o.url);
  const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

  const seedLabel = `${o.sessions} sessions / ${o.ips} IPs (seed ${o.seed})`;
  const [kept] = o.reuse
    ? await admin`select shobj_description(oid, 'pg_database') as label from pg_database where datname = ${TPL}`
    : [];
  if (kept?.label === seedLabel) {
    log(`reusing ${TPL}: ${seedLabel}`);
  } else {
    log(`seeding ${seedLabel} into ${TPL}`);
    const t0 = Date.now();
    await recreate(admin, TPL);
    const db = await openTarget(resolveTarget(withDatabase(o.url, TPL)));
    await migrateUp(db);
    await installObjects(db, 'seed');
    await db.sql.begin(async (tx: postgres.TransactionSql) => {
      await tx`select * from seed_generate(${o.sessions}, ${o.seed}, ${o.ips})`;
    });
    await db.sql.unsafe('VACUUM ANALYZE');
    await db.close();
    await admin.unsafe(`COMMENT ON DATABASE ${TPL} IS '${seedLabel}'`);
    log(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  // the functions under test are always the current ones (a reused template may be older)
  {
    const db = await openTarget(resolveTarget(withDatabase(o.url, TPL)));
    await installObjects(db, 'functions');
    await db.close();
  }

  const runUrl = withDatabase(o.url, RUN);
  const results: Result[] = [];
  const extra: Array<{ ok: boolean; lines: string[] }> = [];
  const started = performance.now();
  for (const v of o.only) {
    if (v.base === 'incremental') {
      await recreate(admin, RUN, TPL);
      const r = await incrementalRuns(runUrl, o.batchSize, log);
      extra.push({ ok: r.ok, lines: [r.text] });
    } else if (v.base === 'app') {
      extra.push(await appPhases({ url: runUrl, fresh: () => recreate(admin, RUN, TPL), seconds: o.appSeconds, batchSize: o.batchSize, log }));
    } else {
      results.push(await runVariant(admin, runUrl, v, o.batchSize, log));
    }
  }
  const wallMinutes = (performance.now() - started) / 60000;
  if (!o.keep) {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${RUN} WITH (FORCE)`);
    await admin.unsafe(`DROP DATABASE IF EXISTS ${TPL} WITH (FORCE)`);
  }
  await admin.end();

  const out = report(o, results, extra);
  out.lines.push(`bench wall time (after seeding): ${wallMinutes.toFixed(1)} min`);
  process.stdout.write(out.lines.join('\n') + '\n');
  process.stdout.write(JSON.stringify({ sessions: o.sessions, ips: o.ips, batchSize: o.batchSize, machineCpus: MACHINE_CPUS, results }) + '\n');
  return out.ok ? 0 : 1;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cpuWords = (cpus: number | undefined) => `${cpus ?? MACHINE_CPUS} CPU${(cpus ?? MACHINE_CPUS) === 1 ? '' : 's'}`;

function report(o: Options, results: Result[], extra: Array<{ ok: boolean; lines: string[] }>): { ok: boolean; lines: string[] } {
  const runsOf = (label: string) => results.filter((r) => r.label === label);
  const meanSeconds = (label: string) => (runsOf(label).length ? mean(runsOf(label).map((r) => r.seconds)) : undefined);
  const labelAt = (base: string, cpus: number | undefined) => (cpus === undefined ? base : `${base}@${cpus}cpu`);
  /** The mean of the floor's runs at r's CPU count (seconds and CPU). */
  const floorOf = (r: Result) => {
    const floors = runsOf(labelAt('floor', r.cpus));
    const cpus = floors.flatMap((f) => (f.cpu === undefined ? [] : [f.cpu]));
    return floors.length ? { seconds: mean(floors.map((f) => f.seconds)), cpu: cpus.length === floors.length ? mean(cpus) : undefined } : undefined;
  };
  const refRatio = (r: Result) => {
    const ref = REFERENCE[r.base];
    const s = ref === undefined ? undefined : meanSeconds(labelAt(ref, r.cpus));
    return { ref, ratio: s === undefined ? NaN : r.seconds / s };
  };
  const fmt = (x: number | undefined, d = 0) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
  const floors = runsOf('floor');

  const lines = [
    `backfill bench: ${o.sessions} sessions, ${o.ips} IPs, batch size ${o.batchSize}, a ${MACHINE_CPUS}-CPU machine (throttle => false in every timed run)`,
    floors.length > 1
      ? `x floor: to the mean of the ${floors.length} floor runs at the same CPU count, ${mean(floors.map((r) => r.seconds)).toFixed(1)} s (${floors.map((r) => r.seconds.toFixed(1)).join(', ')})`
      : 'x floor: to the floor run at the same CPU count',
    'variant        seconds   rows/s   x floor   x ref (ref)      cpu s   x floor(cpu)   batches   batch p50/p99/max ms   locks p50/p99/max ms   WAL MB   table before -> after',
  ];
  for (const r of results) {
    const floor = floorOf(r);
    const ratio = floor ? r.seconds / floor.seconds : NaN;
    const cpuRatio = floor?.cpu && r.cpu !== undefined ? r.cpu / floor.cpu : NaN;
    const { ref, ratio: rr } = refRatio(r);
    lines.push(
      [
        r.label.padEnd(12),
        r.seconds.toFixed(1).padStart(9),
        Math.round(r.rows / r.seconds).toString().padStart(8),
        fmt(ratio, 2).padStart(9),
        `${fmt(rr, 2)}${ref ? ` (${ref})` : ''}`.padStart(16),
        fmt(r.cpu, 1).padStart(7),
        fmt(cpuRatio, 2).padStart(14),
        (r.batches?.toString() ?? '-').padStart(9),
        (r.p50 === undefined ? '-' : `${r.p50.toFixed(0)}/${r.p99!.toFixed(0)}/${r.max!.toFixed(0)}`).padStart(22),
        (r.lockMax === undefined ? '-' : `${r.lockP50!.toFixed(0)}/${r.lockP99!.toFixed(0)}/${r.lockMax.toFixed(0)}`).padStart(22),
        r.walMB.toFixed(0).padStart(8),
        `   ${r.sizeBefore} -> ${r.sizeAfter}`,
        r.note ? `   (${r.note})` : '',
      ].join(' '),
    );
  }

  // the final tables of the real runs
  const real = results.filter((r) => r.fingerprint !== undefined);
  let tablesOk = true;
  if (real.length) {
    const groups = new Map<string, string[]>();
    for (const r of real) groups.set(r.fingerprint!, [...(groups.get(r.fingerprint!) ?? []), r.label]);
    tablesOk = groups.size === 1;
    lines.push(
      tablesOk
        ? `final tables: identical across ${real.map((r) => r.label).join(', ')} (md5 ${real[0]!.fingerprint})`
        : `final tables: DIFFER: ${[...groups].map(([md5, labels]) => `${labels.join(', ')} -> ${md5}`).join('; ')}`,
    );
  }

  // scaling: every variant measured at more than one CPU count
  const byBase = new Map<string, Map<number, number[]>>();
  for (const r of results) {
    const m = byBase.get(r.base) ?? new Map<number, number[]>();
    const n = r.cpus ?? MACHINE_CPUS;
    m.set(n, [...(m.get(n) ?? []), r.seconds]);
    byBase.set(r.base, m);
  }
  const scaled = [...byBase].filter(([, m]) => m.size > 1);
  if (scaled.length) {
    const counts = [...new Set(scaled.flatMap(([, m]) => [...m.keys()]))].sort((a, b) => a - b);
    lines.push(`scaling (mean seconds, rows/s; speed-up = fewest CPUs / most CPUs):`);
    lines.push(['variant'.padEnd(10), ...counts.map((n) => cpuWords(n === MACHINE_CPUS ? undefined : n).padStart(20)), 'speed-up'.padStart(10)].join(' '));
    for (const [base, m] of scaled) {
      const rows = results.find((r) => r.base === base)!.rows;
      const at = (n: number) => (m.has(n) ? mean(m.get(n)!) : undefined);
      const present = counts.filter((n) => m.has(n));
      lines.push(
        [
          base.padEnd(10),
          ...counts.map((n) => (at(n) === undefined ? '-' : `${at(n)!.toFixed(1)} s ${Math.round(rows / at(n)!)}/s`).padStart(20)),
          (at(present[0]!)! / at(present[present.length - 1]!)!).toFixed(2).padStart(10),
        ].join(' '),
      );
    }
  }

  // the targets (judged on the variants at every CPU of the machine)
  const targets: Array<{ what: string; figure: string; pass: boolean | undefined }> = [];
  const ratioTarget = (base: string, ref: string, limit: number) => {
    const s = meanSeconds(base);
    if (s === undefined) return;
    const rs = meanSeconds(ref);
    const n = runsOf(base).length;
    const figure = rs === undefined ? `no ${ref} run` : `${(s / rs).toFixed(2)}x (${s.toFixed(1)} s${n > 1 ? `, mean of ${n}` : ''} / ${ref} ${rs.toFixed(1)} s)`;
    targets.push({ what: `${base} <= ${limit.toFixed(2)}x ${ref}`, figure, pass: rs === undefined ? undefined : s / rs <= limit });
  };
  ratioTarget('undo', 'keyset', 1.2);
  ratioTarget('noundo', 'keyset', 1.1);
  ratioTarget('dry', 'rule', 1.15);
  ratioTarget('undo2', 'floor', 0.8);
  const lockTarget = (what: string, bases: string[]) => {
    const runs = results.filter((r) => r.cpus === undefined && bases.includes(r.base) && r.lockP99 !== undefined);
    if (!runs.length) return;
    const worst = Math.max(...runs.map((r) => r.lockP99!));
    targets.push({ what, figure: `${worst.toFixed(0)} ms (${runs.map((r) => `${r.label} ${r.lockP99!.toFixed(0)}`).join(', ')})`, pass: worst < 250 });
  };
  lockTarget('row locks per batch p99 < 250 ms, one worker', ['undo', 'noundo', 'call', 'runner']);
  lockTarget('row locks per batch p99 < 250 ms, two workers', ['undo2', 'noundo2', 'runner2']);
  for (const r of results.filter((x) => x.rssMb !== undefined && x.cpus === undefined)) {
    targets.push({ what: `${r.label} peak RSS < 150 MB`, figure: `${r.rssMb} MB`, pass: r.rssMb! < 150 });
  }
  const call = meanSeconds('call');
  const cli = meanSeconds('runner');
  if (call !== undefined && cli !== undefined) {
    // the runner does what the CALL does (ANALYZE included), a few batches per CALL
    const overhead = cli / call - 1;
    targets.push({ what: 'runner within 5% of the raw CALL', figure: `${(overhead * 100).toFixed(1)}% (${cli.toFixed(1)} s whole process vs ${call.toFixed(1)} s)`, pass: overhead <= 0.05 });
  }
  if (real.length > 1) targets.push({ what: 'final tables identical', figure: `${real.length} real runs`, pass: tablesOk });

  for (const e of extra) lines.push(...e.lines);
  if (targets.length) lines.push('targets:');
  for (const t of targets) lines.push(`  ${t.pass === undefined ? 'NOT JUDGED' : t.pass ? 'PASS' : 'FAIL'}  ${t.what}: ${t.figure}`);
  const ok = targets.every((t) => t.pass !== false) && extra.every((e) => e.ok) && tablesOk;
  lines.push(ok ? 'all targets met' : 'some targets missed (see FAIL)');

  // the runs as a markdown table
  lines.push('', '| variant | seconds | rows/s | x reference | lock p99 ms | backend CPU s | WAL MB |', '| --- | ---: | ---: | --- | ---: | ---: | ---: |');
  for (const r of results) {
    const { ref, ratio } = refRatio(r);
    lines.push(
      `| ${r.label} | ${r.seconds.toFixed(1)} | ${Math.round(r.rows / r.seconds)} | ${ref && !Number.isNaN(ratio) ? `${ratio.toFixed(2)} (${ref})` : '-'} | ` +
        `${fmt(r.lockP99)} | ${fmt(r.cpu, 1)} | ${r.walMB.toFixed(0)} |`,
    );
  }
  lines.push('');
  return { ok, lines };
}

/**
 * The incremental runs on a fresh copy: the first CALL; the partial index of the open
 * sessions (as `cowrie-db backfill` builds it after a completed run); the second CALL
 * on the unchanged table; 10,000 new sessions; the third CALL.
 */
async function incrementalRuns(url: string, batchSize: number, log: (m: string) => void): Promise<{ ok: boolean; text: string }> {
  const c = client(url);
  const timed = async (text: string): Promise<{ seconds: number; scanned: number; filled: number }> => {
    const s0 = performance.now();
    const [r] = await c.unsafe(text);
    const seconds = (performance.now() - s0) / 1000;
    const [run] = await c`select rows_scanned::bigint as scanned, rows_filled::bigint as filled from backfill_runs where run_id = ${Number(r!.run_id)}`;
    return { seconds, scanned: Number(run!.scanned), filled: Number(run!.filled) };
  };
  await c`set statement_timeout = 0`;
  log('incremental: first run');
  const first = await timed(`CALL backfill_snapshots(batch_size => ${batchSize}, quiet => true, throttle => false)`);
  const s0 = performance.now();
  for (const r of await c`select statement from snapshot_index_statements() where index_name = 'ix_session_summaries_snapshot_open'`) {
    await c.unsafe(String(r.statement));
  }
  const indexSeconds = (performance.now() - s0) / 1000;
  const [{ open }] = (await c`select count(*)::bigint as open from session_summaries
                               where source_ip is null or snapshot_asn is null or snapshot_country is null
                                  or snapshot_ip_type is null or enrichment_at is null`) as unknown as [{ open: string }];
  log('incremental: second run (unchanged)');
  const second = await timed(`CALL backfill_snapshots(batch_size => ${batchSize}, quiet => true, throttle => false)`);
  const N = 10_000;
  await c.unsafe(`insert into session_summaries (session_id, first_event_at, last_event_at, enrichment, source_files, created_at, updated_at)
                  select 'bench_new_' || s.session_id, s.first_event_at, s.last_event_at, s.enrichment, s.source_files, now(), now()
                    from session_summaries s order by s.session_id limit ${N}`);
  log('incremental: third run (10,000 new sessions)');
  const third = await timed(`CALL backfill_snapshots(batch_size => ${batchSize}, quiet => true, throttle => false)`);
  const [{ outside }] = (await c`select count(*)::bigint as outside from backfill_undo u
                                   join backfill_runs r using (run_id)
                                  where r.run_id = (select max(run_id) from backfill_runs)
                                    and u.session_id not like 'bench_new_%'`) as unknown as [{ outside: string }];
  await c.end();
  const secondOk = second.seconds < 2;
  const thirdOk = third.scanned === N && Number(outside) === 0;
  return {
    ok: secondOk && thirdOk,
    text:
      `incremental: first run ${first.seconds.toFixed(1)} s (${first.scanned} looked at, ${first.filled} filled, ${open} left open); ` +
      `partial index built in ${indexSeconds.toFixed(1)} s; ` +
      `second run on the unchanged database ${second.seconds.toFixed(2)} s, ${second.scanned} looked at (target < 2 s${secondOk ? ' ok' : ' MISS'}); ` +
      `after ${N} new sessions ${third.seconds.toFixed(2)} s, ${third.scanned} looked at, ${third.filled} filled, ` +
      `${outside} other sessions changed (target: exactly the new ones${thirdOk ? ' ok' : ' MISS'}; ` +
      `${((third.seconds / first.seconds) * 100).toFixed(1)}% of the first run for ${((N / first.scanned) * 100).toFixed(1)}% of its sessions)`,
  };
}

main().then(
  async (code) => {
    await runCleanups(); // stops the embedded server if the bench started it
    process.exit(code);
  },
  (err: Error) => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(3);
  },
);
