// cowrie-db validate on PostgreSQL 17 and 15: every check passing and failing on
// purpose-built databases, the verdicts and exit codes (GO, NO-GO, CRITICAL, could not
// run), the JSON and JUnit outputs, and proof that validate writes nothing.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installObjects } from '../src/db/migrate.js';
import { recordMigrationChecksums } from '../src/db/migration-checksums.js';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

const SESSIONS = 3000;
const tmp = mkdtempSync(join(tmpdir(), 'cowrie-db-validate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Check {
  id: string;
  severity: string;
  status: string;
  measured: number | string | null;
  threshold: string | null;
  message: string;
  details?: Record<string, unknown>;
}
interface Report {
  verdict: string;
  exitCode: number;
  readOnly: { transaction: string; written: string };
  settings: { accuracy: { seed: number; sampleSize: number } };
  checks: Check[];
}

async function validate(t: TestDatabase, ...args: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const run = await runCli(['validate', '--db', t.url, '--json', ...args]);
  let report: Report;
  try {
    report = JSON.parse(run.stdout) as Report;
  } catch {
    throw new Error(`validate printed no JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
  }
  return { code: run.code, report, stderr: run.stderr };
}

const check = (r: Report, id: string): Check => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
};

/** A seeded database (seed_generate: production-shaped dirty data, ~1% prefilled). */
async function seeded(server: Parameters<typeof freshDatabase>[0], backfill: boolean): Promise<TestDatabase> {
  const t = await freshDatabase(server);
  await installObjects(t.db, 'seed');
  await t.sql`select * from seed_generate(${SESSIONS}, 7)`;
  if (backfill) await t.sql.unsafe('CALL backfill_snapshots(1000)').simple();
  await t.sql`analyze`;
  return t;
}

/** Everything a write could change: every user table's rows, and the catalog's objects. */
async function fingerprint(t: TestDatabase): Promise<string> {
  const tables = await t.sql`select format('%I.%I', schemaname, tablename) as t from pg_tables
                             where schemaname not in ('pg_catalog', 'information_schema') order by 1`;
  const parts: string[] = [];
  for (const { t: name } of tables) {
    const [h] = await t.sql.unsafe(`select count(*) as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from ${name} x`);
    parts.push(`${name}:${h?.n}:${h?.h}`);
  }
  const [cat] = await t.sql`select md5(string_agg(c.oid::text || c.relname || c.relkind::text || c.relfilenode::text, ',' order by c.oid)) as h
                            from pg_class c where c.relnamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)`;
  const [fns] = await t.sql`select md5(string_agg(p.oid::text || md5(p.prosrc), ',' order by p.oid)) as h from pg_proc p where p.pronamespace = 'public'::regnamespace`;
  return [...parts, `catalog:${cat?.h}`, `functions:${fns?.h}`].join('\n');
}

describe.each(testServers())('validate on $name', (server) => {
  describe('before the backfill (seeded, migrated)', () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await seeded(server, false);
    });
    afterAll(async () => t.drop());

    it('is NO-GO for missing snapshots (exit 1), with the coverage breakdown and readiness', async () => {
      const { code, report } = await validate(t, '--seed', '3', '--skip', 'performance');
      expect(code).toBe(1);
      expect(report.verdict).toBe('NO-GO');
      const cov = check(report, 'coverage.snapshots');
      expect(cov.status).toBe('fail');
      expect(cov.severity).toBe('ERROR');
      expect(Number(cov.measured)).toBeLessThan(5);
      const d = cov.details as Record<string, number | { total: number; reasons: Record<string, number> }>;
      const sum = (['filled', 'filledNoInventory', 'pending', 'noInventoryMatch'] as const).reduce((n, k) => n + (d[k] as number), 0) +
        (d.rejected as { total: number }).total + (d.noSourceIp as { total: number }).total;
      expect(sum).toBe(SESSIONS);
      expect((d.noSourceIp as { reasons: Record<string, number> }).reasons).toHaveProperty('no_enrichment');
      expect(check(report, 'readiness.pending').measured).toBe(SESSIONS - (d.filled as number) - (d.filledNoInventory as number));
      expect(check(report, 'readiness.inventory_coverage').status).toBe('pass');
      const est = check(report, 'readiness.estimate');
      expect(est.status).toBe('pass');
      expect((est.details as { batches: number }).batches).toBeGreaterThan(0);
      // the engine's dry run is never called: no backfill run row appears
      const [runs] = await t.sql`select count(*)::int as n from backfill_runs`;
      expect(runs?.n).toBe(0);
      // the seed leaves some half-written snapshots: a WARNING, not a failure of the verdict
      expect(check(report, 'data_quality.impossible_values').severity).toBe('WARNING');
      expect(report.checks.every((c) => c.status !== 'error')).toBe(true);
    });

    it('writes nothing: the database is identical before and after a full run', async () => {
      const before = await fingerprint(t);
      const { report } = await validate(t, '--seed', '11', '--runs', '1');
      expect(report.readOnly.written).toBe('nothing');
      expect(check(report, 'connection.read_only').status).toBe('pass');
      expect(await fingerprint(t)).toBe(before);
    });

    it('the terminal report gives the verdict first, then the failures, and says it is read-only', async () => {
      const run = await runCli(['validate', '--db', t.url, '--seed', '3', '--skip', 'performance']);
      expect(run.code).toBe(1);
      const lines = run.stdout.split('\n');
      expect(lines[0]).toMatch(/^cowrie-db validate: NO-GO/);
      expect(run.stdout).toMatch(/read-only: one REPEATABLE READ, READ ONLY transaction, statement_timeout/);
      expect(run.stdout.indexOf('FAILURES')).toBeLessThan(run.stdout.indexOf('coverage.snapshots'));
      expect(run.stdout.indexOf('coverage.snapshots')).toBeLessThan(run.stdout.indexOf('OTHER CHECKS'));
      expect(run.stdout).not.toContain('harness-S3cret-pw');
    });
  });

  describe('after the backfill', () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await seeded(server, true);
    });
    afterAll(async () => t.drop());

    it('is GO with measured coverage, accuracy and speedup; JSON and JUnit parse', async () => {
      const junit = join(tmp, `go-${server.name}.xml`);
      const { code, report } = await validate(t, '--seed', '5', '--runs', '3', '--min-speedup', '0', '--junit', junit);
      expect(report.checks.filter((c) => c.status === 'fail' && ['ERROR', 'CRITICAL'].includes(c.severity))).toEqual([]);
      expect(code).toBe(0);
      expect(report.verdict).toBe('GO');
      expect(Number(check(report, 'coverage.snapshots').measured)).toBeGreaterThanOrEqual(95);
      const acc = check(report, 'accuracy.sample');
      expect(acc.status).toBe('pass');
      expect(Number(acc.measured)).toBeGreaterThanOrEqual(99);
      expect(report.settings.accuracy.seed).toBe(5);
      expect(check(report, 'accuracy.temporal_drift').severity).toBe('INFO');
      expect(check(report, 'coverage.backfill_runs').status).toBe('pass');
      // performance mechanics: 3 timed runs per form, medians, plans, result comparison
      for (const name of ['country_count', 'country_type_count', 'asn_clustering', 'snowshoe']) {
        const p = check(report, `performance.${name}`);
        expect(['pass', 'fail']).toContain(p.status);
        expect(p.severity === 'ERROR' && p.status === 'fail').toBe(false);
        const d = p.details as { snapshotMs: number[]; joinMs: number[]; snapshotMedianMs: number; joinMedianMs: number; speedup: number; sameResults: boolean; snapshotPlan: { nodes: string[] } };
        expect(d.snapshotMs).toHaveLength(3);
        expect(d.joinMs).toHaveLength(3);
        expect(d.snapshotMedianMs).toBe([...d.snapshotMs].sort((a, b) => a - b)[1]);
        expect(d.speedup).toBeCloseTo(d.joinMedianMs / d.snapshotMedianMs, 5);
        expect(typeof d.sameResults).toBe('boolean');
        expect(d.snapshotPlan.nodes.length).toBeGreaterThan(0);
      }
      const speed = check(report, 'performance.speedup');
      expect(speed.status).toBe('pass');
      expect(speed.threshold).toBe('>= 0x');

      const xml = readFileSync(junit, 'utf8');
      expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')).toBe(true);
      expect((xml.match(/<testcase /g) ?? []).length).toBe(report.checks.length);
      expect((xml.match(/<testsuite /g) ?? []).length).toBe((xml.match(/<\/testsuite>/g) ?? []).length);
      expect(xml).not.toMatch(/<failure/);
      expect(wellFormed(xml)).toBe(true);
    });

    it('speedup below the threshold: a WARNING with the measured value by default, NO-GO when made blocking', async () => {
      const { code, report } = await validate(t, '--seed', '5', '--runs', '1', '--min-speedup', '1000', '--only', 'performance');
      const s = check(report, 'performance.speedup');
      expect(s.status).toBe('fail');
      expect(s.severity).toBe('WARNING');
      expect(Number(s.measured)).toBeGreaterThan(0);
      expect(Number(s.measured)).toBeLessThan(1000);
      expect(code).toBe(0);
      const file = join(tmp, `strict-${server.name}.json`);
      writeFileSync(file, JSON.stringify({ severity: { 'performance.speedup': 'ERROR' } }));
      const strict = await validate(t, '--seed', '5', '--runs', '1', '--min-speedup', '1000', '--only', 'performance', '--config', file);
      expect(strict.code).toBe(1);
      expect(check(strict.report, 'performance.speedup').severity).toBe('ERROR');
    });

    it('snapshot and JOIN queries give the same results when no snapshot drifted', async () => {
      const c = await seeded(server, true);
      try {
        // make every snapshot agree with today's ip_inventory and drop those without source_ip
        await c.sql`update session_summaries s set snapshot_asn = i.current_asn, snapshot_country = i.geo_country,
                      snapshot_ip_type = backfill_inventory_ip_type(i.ip_types, (i.enrichment -> 'spur')::json) from ip_inventory i where i.ip_address = s.source_ip`;
        await c.sql`update session_summaries set snapshot_country = null, snapshot_asn = null, snapshot_ip_type = null, enrichment_at = null
                    where source_ip is null`;
        await c.sql`analyze`;
        const top = await c.sql`select snapshot_country, snapshot_ip_type from session_summaries where snapshot_ip_type is not null
                                group by 1, 2 order by count(*) desc limit 1`;
        const { report } = await validate(c, '--only', 'performance', '--runs', '1', '--min-coverage', '50', '--min-speedup', '0',
          '--country', String(top[0]?.snapshot_country), '--ip-type', String(top[0]?.snapshot_ip_type), '--snowshoe-min-ips', '1');
        for (const name of ['country_count', 'country_type_count', 'asn_clustering', 'snowshoe']) {
          const p = check(report, `performance.${name}`);
          expect(p.status, p.message).toBe('pass');
          expect((p.details as { sameResults: boolean; rows: number }).sameResults).toBe(true);
          expect((p.details as { rows: number }).rows).toBeGreaterThan(0);
        }
      } finally {
        await c.drop();
      }
    });

    it('accuracy fails with the exact number of corrupted snapshots in the sample', async () => {
      const sample = await t.sql`select session_id from validate_accuracy(400, 9) where matches order by session_id limit 25`;
      expect(sample).toHaveLength(25);
      const ids = sample.map((r) => String(r.session_id));
      await t.sql`update session_summaries set snapshot_asn = coalesce(snapshot_asn, 0) + 7 where session_id = any(${ids})`;
      try {
        const { code, report } = await validate(t, '--only', 'accuracy', '--sample-size', '400', '--seed', '9');
        expect(code).toBe(1);
        const a = check(report, 'accuracy.sample');
        expect(a.status).toBe('fail');
        const d = a.details as { sampled: number; mismatching: number; byColumn: Record<string, number>; examples: { session_id: string }[] };
        expect(d.sampled).toBe(400);
        const before = 400 - (await t.sql`select count(*)::int as n from validate_accuracy(400, 9) where not matches and session_id <> all(${ids})`)[0]!.n;
        expect(d.mismatching).toBe(25 + (400 - before));
        expect(d.byColumn.snapshot_asn).toBeGreaterThanOrEqual(25);
        expect(Number(a.measured)).toBeCloseTo((100 * (400 - d.mismatching)) / 400, 1);
        expect(ids).toContain(d.examples[0]!.session_id);
        // the same seed gives the same sample
        const again = await validate(t, '--only', 'accuracy', '--sample-size', '400', '--seed', '9');
        expect(check(again.report, 'accuracy.sample').details).toEqual(a.details);
      } finally {
        await t.sql`update session_summaries set snapshot_asn = nullif(snapshot_asn - 7, 0) where session_id = any(${ids})`;
      }
      const { report } = await validate(t, '--only', 'accuracy', '--sample-size', '400', '--seed', '9');
      expect(check(report, 'accuracy.sample').status).toBe('pass');
    });

    it('data quality: orphan source_ip, NOT VALID constraint, CHECK violation, impossible values', async () => {
      const c = await seeded(server, true);
      try {
        // one statement per transaction: an UPDATE of a row written by the same transaction
        // re-checks the (NOT VALID) foreign key even when source_ip does not change
        for (const statement of `
          alter table session_summaries drop constraint fk_session_summaries_source_ip;
          alter table session_summaries drop constraint ck_session_summaries_snapshot_country;
          update session_summaries set source_ip = '203.0.113.' || (n % 200)::text
            from (select session_id, row_number() over (order by session_id) as n from session_summaries where source_ip is not null limit 4) x
           where session_summaries.session_id = x.session_id;
          alter table session_summaries add constraint fk_session_summaries_source_ip
            foreign key (source_ip) references ip_inventory (ip_address) not valid;
          update session_summaries set snapshot_country = 'cn'
           where session_id in (select session_id from session_summaries where snapshot_country is not null order by session_id desc limit 3);
          update session_summaries set event_count = -1
           where session_id in (select session_id from session_summaries order by session_id limit 2);`.split(';').map((x) => x.trim()).filter(Boolean)) {
          await c.sql.unsafe(statement);
        }
        const { code, report } = await validate(c, '--only', 'data_quality,schema');
        expect(code).toBe(1);
        expect(check(report, 'data_quality.orphan_source_ip').measured).toBe(4);
        const nv = check(report, 'data_quality.not_valid_constraints');
        expect(nv.status).toBe('fail');
        expect(nv.severity).toBe('ERROR');
        expect(nv.message).toContain('fk_session_summaries_source_ip');
        const cv = check(report, 'data_quality.constraint_violations');
        expect(cv.measured).toBe(3);
        expect(cv.message).toContain('ck_session_summaries_snapshot_country');
        const iv = check(report, 'data_quality.impossible_values');
        expect(iv.severity).toBe('ERROR');
        expect(iv.message).toMatch(/negative_counters.*\(2\)/);
        // the dropped CHECK is schema drift too (ERROR, not CRITICAL)
        const drift = check(report, 'schema.drift');
        expect(drift.status).toBe('fail');
        expect(drift.severity).toBe('ERROR');
        expect(drift.message).toContain('ck_session_summaries_snapshot_country');
      } finally {
        await c.drop();
      }
    });

    it('migrations: a pending migration is NO-GO; an applied migration edited since is detected by checksum', async () => {
      const c = await seeded(server, true);
      try {
        // migrate recorded the checksums; recording again adds nothing (never overwritten)
        expect(await recordMigrationChecksums(c.sql)).toEqual([]);
        // a database whose checksums were never recorded: a WARNING, then recorded on first use
        await c.sql`drop table cowrie_db_migration_checksums`;
        const { report: r0 } = await validate(c, '--only', 'schema');
        expect(check(r0, 'schema.migration_checksums').severity).toBe('WARNING');
        expect(await recordMigrationChecksums(c.sql)).toContain('001_v15-baseline');
        const { code: ok, report: r1 } = await validate(c, '--only', 'schema');
        expect(check(r1, 'schema.migration_checksums').status).toBe('pass');
        expect(ok).toBe(0);
        await c.sql`update cowrie_db_migration_checksums set sha256 = repeat('0', 64) where name = '002_v16-three-tier-enrichment'`;
        await c.sql`delete from pgmigrations where name = '004_snapshot-ip-type-alignment'`;
        const { code, report } = await validate(c, '--only', 'schema');
        expect(code).toBe(1);
        const sums = check(report, 'schema.migration_checksums');
        expect(sums.status).toBe('fail');
        expect(sums.message).toContain('002_v16-three-tier-enrichment');
        const mig = check(report, 'schema.migrations');
        expect(mig.status).toBe('fail');
        expect(mig.measured).toBe(1);
        expect(mig.message).toContain('004_snapshot-ip-type-alignment');
      } finally {
        await c.drop();
      }
    });

    it('the verdict is SQL\'s: validate_verdict() from psql agrees with the CLI, and NULL snapshots left flip both to NO-GO naming coverage', async () => {
      const c = await seeded(server, true);
      try {
        const settings = { accuracy: { seed: 5 }, performance: { runs: 1 }, thresholds: { speedup: 0 } };
        const fromSql = async () => c.sql.begin('isolation level repeatable read read only', async (tx) =>
          (await tx`select verdict, exit_code, failing from validate_verdict(null, ${tx.json(settings)})`)[0]!);
        const before = await fromSql();
        const cli = await validate(c, '--seed', '5', '--runs', '1', '--min-speedup', '0');
        expect(before).toMatchObject({ verdict: 'GO', exit_code: 0, failing: [] });
        expect(cli.report.verdict).toBe(before.verdict);
        expect(cli.code).toBe(before.exit_code);
        // 300 of the filled sessions lose their snapshot: coverage drops below 95%
        await c.sql`update session_summaries set snapshot_country = null
                     where session_id in (select session_id from session_summaries where snapshot_country is not null order by session_id limit 300)`;
        const after = await fromSql();
        expect(after).toMatchObject({ verdict: 'NO-GO', exit_code: 1 });
        expect(after.failing).toContain('coverage.snapshots');
        const flipped = await validate(c, '--seed', '5', '--runs', '1', '--min-speedup', '0');
        expect(flipped.code).toBe(1);
        expect((flipped.report as Report & { decidedBy: string[] }).decidedBy).toEqual(after.failing);
        expect(check(flipped.report, 'coverage.snapshots').status).toBe('fail');
        // the same rows from psql: one per check, decided there
        const [row] = await c.sql`select status, severity, threshold from validate_checks(array['coverage']) where name = 'coverage.snapshots'`;
        expect(row).toEqual({ status: 'fail', severity: 'ERROR', threshold: '>= 95%' });
      } finally {
        await c.drop();
      }
    });

    it('a missing validate function is "could not run" (exit 3), not GO', async () => {
      const c = await seeded(server, true);
      try {
        await c.sql`drop function validate_coverage()`;
        const { code, report } = await validate(c, '--only', 'coverage');
        expect(report.verdict).toBe('COULD-NOT-RUN');
        expect(code).toBe(3);
        expect(check(report, 'coverage.snapshots').status).toBe('error');
        expect(check(report, 'coverage.snapshots').message).toMatch(/validate_coverage\(\) is not installed.*cowrie-db migrate/);
      } finally {
        await c.drop();
      }
    });
  });

  describe('drifted schema', () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await seeded(server, false);
      await t.sql`alter table session_summaries rename column snapshot_ip_type to snapshot_ip_types`;
    });
    afterAll(async () => t.drop());

    it('is CRITICAL (exit 2) and names the drift; data checks are skipped, not errors', async () => {
      const junit = join(tmp, `critical-${server.name}.xml`);
      const { code, report } = await validate(t, '--junit', junit);
      expect(code).toBe(2);
      expect(report.verdict).toBe('CRITICAL');
      const drift = check(report, 'schema.drift');
      expect(drift.severity).toBe('CRITICAL');
      expect(drift.message).toContain('snapshot_ip_types');
      expect(check(report, 'coverage.snapshots').status).toBe('skip');
      expect(check(report, 'accuracy.sample').status).toBe('skip');
      const xml = readFileSync(junit, 'utf8');
      expect(xml).toMatch(/<testcase classname="cowrie-db\.validate\.schema" name="schema\.drift"[^>]*>\s*<failure type="CRITICAL"/);
      expect(xml).toMatch(/<skipped /);
      expect(wellFormed(xml)).toBe(true);
    });
  });

  describe('settings', () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await freshDatabase(server);
      await t.sql`insert into ip_inventory (ip_address, first_seen, last_seen, enrichment, ip_types)
                  values ('198.51.100.7', now(), now(), '{"maxmind": {"country": "DE"}}', '{DATACENTER}')`;
      await t.sql`insert into session_summaries (session_id, first_event_at, last_event_at, enrichment, source_ip, snapshot_country, snapshot_ip_type, enrichment_at)
                  select 's' || g, now(), now(), '{"dshield": {"ip": {"number": "198.51.100.7"}}, "maxmind": {"country": "DE"}, "spur": {"client": {"types": "DATACENTER"}}, "enriched_at": "2025-05-01T10:00:00Z"}',
                         '198.51.100.7', 'DE', 'DATACENTER', '2025-05-01T10:00:00Z' from generate_series(1, 50) g`;
    });
    afterAll(async () => t.drop());

    it('a config file validated with zod sets thresholds; flags win over it', async () => {
      const file = join(tmp, `cfg-${server.name}.json`);
      writeFileSync(file, JSON.stringify({ thresholds: { coverage: 99.5 }, accuracy: { sampleSize: 10, seed: 4 }, severity: { 'coverage.snapshots': 'WARNING' } }));
      const { code, report } = await validate(t, '--config', file, '--only', 'coverage,accuracy');
      expect(code).toBe(0);
      expect(check(report, 'coverage.snapshots').threshold).toBe('>= 99.5%');
      expect(check(report, 'accuracy.sample').details).toMatchObject({ sampled: 10, seed: 4 });
      const flag = await validate(t, '--config', file, '--only', 'accuracy', '--sample-size', '20');
      expect(check(flag.report, 'accuracy.sample').details).toMatchObject({ sampled: 20 });
    });

    it('a config override turns a failure into a warning; a bad config file or flag is a usage error (64)', async () => {
      const file = join(tmp, `bad-${server.name}.json`);
      writeFileSync(file, JSON.stringify({ thresholds: { coverage: 150 } }));
      const bad = await runCli(['validate', '--db', t.url, '--config', file]);
      expect(bad.code).toBe(64);
      expect(bad.stderr).toMatch(/thresholds\.coverage/);
      writeFileSync(file, JSON.stringify({ thresholdz: {} }));
      expect((await runCli(['validate', '--db', t.url, '--config', file])).code).toBe(64);
      expect((await runCli(['validate', '--db', t.url, '--min-coverage', 'lots'])).code).toBe(64);
      expect((await runCli(['validate', '--db', t.url, '--only', 'coverage,nonsense'])).code).toBe(64);
    });
  });
});

describe('validate cannot connect', () => {
  it('exit 3, verdict COULD-NOT-RUN in JSON and JUnit, no password', async () => {
    const junit = join(tmp, 'noconnect.xml');
    const run = await runCli(['validate', '--db', 'postgresql://u:Pw0rdXYZ@127.0.0.1:1/db', '--json', '--junit', junit]);
    expect(run.code).toBe(3);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.verdict).toBe('COULD-NOT-RUN');
    expect(report.checks[0]?.id).toBe('connection.connectivity');
    expect(report.checks[0]?.status).toBe('error');
    expect(readFileSync(junit, 'utf8')).toMatch(/<error type="NOT RUN"/);
    expect(run.stdout + run.stderr + readFileSync(junit, 'utf8')).not.toContain('Pw0rdXYZ');
  });
});

/** Minimal XML well-formedness: tags nest and close, attributes are quoted, entities known. */
function wellFormed(xml: string): boolean {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(body))) {
    if (m.index !== consumed) return false;
    consumed = re.lastIndex;
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) return false;
      continue;
    }
    if (m[1]) {
      if (stack.pop() !== m[2]) return false;
    } else if (!m[4]) stack.push(m[2]!);
  }
  return consumed === body.length && stack.length === 0;
}
