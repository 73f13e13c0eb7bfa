// npm run bench -- [--db URL] [--sessions N] [--ips N] [--seed N] [--batch-size N] [--only a,b] [--keep]
//
// The backfill benchmark of issue 4 (not a test). Seeds the production size
// (1,682,827 sessions, 38,864 IPs) once into a template database, then, each on a
// fresh copy of it (CREATE DATABASE ... TEMPLATE), times:
//   floor   a single set-based UPDATE doing the same fill (same snapshot rule,
//           backfill_snapshot_source; no batches, no locks, no undo): the floor
//   undo    CALL backfill_snapshots(batch_size => 5000)                 (undo log on)
//   noundo  CALL backfill_snapshots(batch_size => 5000, record_undo => false)
//   dry     CALL backfill_snapshots(batch_size => 5000, dry_run => true)
// and prints rows/s, each time as a ratio to the floor, the batch latency p50/p99/max
// (backfill_batches.duration_ms: from the start of the batch, before its row locks,
// to its checkpoint, i.e. an upper bound of how long the batch holds row locks), the
// backend CPU time when the server is local, and the table size before and after.
// Targets: undo <= 1.3x floor, noundo <= 1.15x, dry <= 0.5x, batch max <= 250 ms.
// Run it with npm run bench (tsx).
// --db is a URL to the server (any database on it; default $DATABASE_URL, else the
// embedded PostgreSQL 17); the bench creates and drops the
// databases cowrie_bench_tpl and cowrie_bench_run there (--keep keeps them).
// Exit code 0 when every target is met, 1 otherwise.
import { readFileSync } from 'node:fs';
import postgres from 'postgres';

// The built runner (npm run bench builds it first); typed from its sources.
const { openTarget } = (await import('../dist/db/connect.js' as string)) as typeof import('../src/db/connect.js');
const { installObjects, migrateUp } = (await import('../dist/db/migrate.js' as string)) as typeof import('../src/db/migrate.js');
const { resolveTarget } = (await import('../dist/db/target.js' as string)) as typeof import('../src/db/target.js');
const { runCleanups } = (await import('../dist/lifecycle.js' as string)) as typeof import('../src/lifecycle.js');

interface Options {
  url: string;
  sessions: number;
  ips: number;
  seed: number;
  batchSize: number;
  only: string[];
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    // Empty: the embedded PostgreSQL 17 (started for the bench, stopped after it).
    url: process.env.DATABASE_URL ?? '',
    sessions: 1_682_827,
    ips: 0,
    seed: 1,
    batchSize: 5000,
    only: ['floor', 'undo', 'noundo', 'dry'],
    keep: false,
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
    else if (a === '--only') o.only = v().split(',');
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.sessions) || o.sessions < 1) throw new Error('--sessions must be a positive integer');
  if (o.ips === 0) o.ips = Math.max(1, Math.round((o.sessions * 38_864) / 1_682_827)); // the production ratio
  if (!Number.isInteger(o.ips) || o.ips < 1 || o.ips > o.sessions) throw new Error('--ips must be 1..sessions');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1 || o.batchSize > 1_000_000) throw new Error('--batch-size must be 1..1000000');
  return o;
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

const FLOOR = `
UPDATE session_summaries s
SET source_ip        = COALESCE(s.source_ip, v.new_source_ip),
    snapshot_asn     = COALESCE(s.snapshot_asn, v.new_snapshot_asn),
    snapshot_country = COALESCE(s.snapshot_country, v.new_snapshot_country),
    snapshot_ip_type = COALESCE(s.snapshot_ip_type, v.new_snapshot_ip_type),
    enrichment_at    = COALESCE(s.enrichment_at, v.new_enrichment_at)
FROM (SELECT s2.ctid AS tid, s2.source_ip, s2.snapshot_asn, s2.snapshot_country, s2.snapshot_ip_type,
             s2.enrichment_at, src.*
        FROM session_summaries s2
       CROSS JOIN LATERAL backfill_snapshot_source(s2.enrichment, s2.first_event_at) src
       WHERE s2.source_ip IS NULL OR s2.snapshot_asn IS NULL OR s2.snapshot_country IS NULL
          OR s2.snapshot_ip_type IS NULL OR s2.enrichment_at IS NULL) v
WHERE s.ctid = v.tid
  AND v.reject_reason IS NULL
  AND ((v.source_ip IS NULL AND v.new_source_ip IS NOT NULL)
       OR (v.snapshot_asn IS NULL AND v.new_snapshot_asn IS NOT NULL)
       OR (v.snapshot_country IS NULL AND v.new_snapshot_country IS NOT NULL)
       OR (v.snapshot_ip_type IS NULL AND v.new_snapshot_ip_type IS NOT NULL)
       OR (v.enrichment_at IS NULL AND v.new_enrichment_at IS NOT NULL))`;

interface Result {
  name: string;
  seconds: number;
  cpu?: number;
  rows: number;
  p50?: number;
  p99?: number;
  max?: number;
  batches?: number;
  sizeBefore: string;
  sizeAfter: string;
}

function statement(name: string, batchSize: number): string {
  switch (name) {
    case 'floor':
      return FLOOR;
    case 'undo':
      return `CALL backfill_snapshots(batch_size => ${batchSize}, quiet => true, run_analyze => false)`;
    case 'noundo':
      return `CALL backfill_snapshots(batch_size => ${batchSize}, record_undo => false, quiet => true, run_analyze => false)`;
    case 'dry':
      return `CALL backfill_snapshots(batch_size => ${batchSize}, dry_run => true, quiet => true)`;
    default:
      throw new Error(`unknown variant ${name}`);
  }
}

async function recreate(admin: postgres.Sql, name: string, template?: string): Promise<void> {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
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

  log(`seeding ${o.sessions} sessions / ${o.ips} IPs into ${TPL} (seed ${o.seed})`);
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
  log(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const results: Result[] = [];
  for (const name of o.only) {
    await recreate(admin, RUN, TPL);
    const c = client(withDatabase(o.url, RUN));
    const [{ pid }] = (await c`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
    await c`set statement_timeout = 0`;
    await c`checkpoint`;
    const [{ size: sizeBefore }] = (await c`select pg_size_pretty(pg_total_relation_size('session_summaries')) as size`) as unknown as [{ size: string }];
    const [{ n: candidates }] = (await c`
      select count(*)::bigint as n from session_summaries
       where source_ip is null or snapshot_asn is null or snapshot_country is null
          or snapshot_ip_type is null or enrichment_at is null`) as unknown as [{ n: string }];
    log(`${name}: running`);
    const c0 = cpuOf(pid);
    const s0 = performance.now();
    await c.unsafe(statement(name, o.batchSize));
    const seconds = (performance.now() - s0) / 1000;
    const c1 = cpuOf(pid);
    const [{ size: sizeAfter }] = (await c`select pg_size_pretty(pg_total_relation_size('session_summaries')) as size`) as unknown as [{ size: string }];
    const r: Result = { name, seconds, rows: Number(candidates), sizeBefore, sizeAfter };
    if (c0 !== undefined && c1 !== undefined) r.cpu = c1 - c0;
    if (name !== 'floor') {
      const [b] = await c`
        select percentile_cont(0.5) within group (order by duration_ms) as p50,
               percentile_cont(0.99) within group (order by duration_ms) as p99,
               max(duration_ms) as max, count(*)::int as n
          from backfill_batches`;
      Object.assign(r, { p50: Number(b!.p50), p99: Number(b!.p99), max: Number(b!.max), batches: Number(b!.n) });
    }
    results.push(r);
    log(`${name}: ${seconds.toFixed(1)} s`);
    await c.end();
  }
  if (!o.keep) {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${RUN} WITH (FORCE)`);
    await admin.unsafe(`DROP DATABASE IF EXISTS ${TPL} WITH (FORCE)`);
  }
  await admin.end();

  const floor = results.find((r) => r.name === 'floor');
  const targets: Record<string, number> = { undo: 1.3, noundo: 1.15, dry: 0.5 };
  let ok = true;
  const lines = [
    `backfill bench: ${o.sessions} sessions, ${o.ips} IPs, batch size ${o.batchSize}`,
    'variant   seconds   rows/s   x floor   target   cpu s   x floor(cpu)   batches   p50 ms   p99 ms   max ms   table before -> after',
  ];
  for (const r of results) {
    const ratio = floor ? r.seconds / floor.seconds : NaN;
    const cpuRatio = floor?.cpu && r.cpu !== undefined ? r.cpu / floor.cpu : NaN;
    const target = targets[r.name];
    const met = target === undefined || ratio <= target;
    const batchOk = r.max === undefined || r.name === 'dry' || r.max <= 250;
    if (!met || !batchOk) ok = false;
    lines.push(
      [
        r.name.padEnd(8),
        r.seconds.toFixed(1).padStart(8),
        Math.round(r.rows / r.seconds).toString().padStart(8),
        (Number.isNaN(ratio) ? '-' : ratio.toFixed(2)).padStart(9),
        (target === undefined ? '' : `<=${target}${met ? ' ok' : ' MISS'}`).padStart(11),
        (r.cpu === undefined ? '-' : r.cpu.toFixed(1)).padStart(7),
        (Number.isNaN(cpuRatio) ? '-' : cpuRatio.toFixed(2)).padStart(14),
        (r.batches?.toString() ?? '-').padStart(9),
        (r.p50?.toFixed(0) ?? '-').padStart(8),
        (r.p99?.toFixed(0) ?? '-').padStart(8),
        ((r.max?.toFixed(0) ?? '-') + (r.max !== undefined && r.name !== 'dry' ? (batchOk ? ' ok' : ' MISS') : '')).padStart(8),
        `   ${r.sizeBefore} -> ${r.sizeAfter}`,
      ].join(' '),
    );
  }
  lines.push(ok ? 'all targets met' : 'some targets missed (see MISS)');
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(JSON.stringify({ sessions: o.sessions, ips: o.ips, batchSize: o.batchSize, results }) + '\n');
  return ok ? 0 : 1;
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
