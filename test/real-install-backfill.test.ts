// The whole job on a database built the way a real upstream install is (the ORM forms,
// the v16 names, v17, the dependent tables, enrichment in the loader's shape:
// test/fixtures/real-install.sql), through the CLI: migrate -> backfill -> check -> validate. Asserts coverage,
// every written value against what the session JSON and the inventory say (computed here,
// independently of the SQL rule), validation's own coverage and accuracy functions, and that
// nothing of the upstream's own data changed outside the five snapshot columns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REAL_INSTALL, loadRealInstall } from './fixtures/real-install.js';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

const SNAPSHOT_COLUMNS = ['source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at'];

/** md5 of every row of every table, over the columns the table had before cowrie-db came (snapshot columns left out). */
async function upstreamDigest(t: TestDatabase, columns: Map<string, string[]>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [table, cols] of columns) {
    const list = cols.map((c) => `t.${JSON.stringify(c)}::text`).join(', ');
    const [row] = await t.sql.unsafe(
      `select count(*) || ':' || coalesce(md5(string_agg(x, E'\\n' order by x)), '') as d
         from (select concat_ws('|', ${list}) as x from ${JSON.stringify(table)} t) s`);
    out[table] = String(row!.d);
  }
  return out;
}

interface Session {
  session_id: string;
  enrichment: Record<string, unknown> | null;
  first_event_at: Date;
  created_at: Date;
  source_ip: string | null;
  snapshot_asn: number | null;
  snapshot_country: string | null;
  snapshot_ip_type: string | null;
  enrichment_at: Date | null;
}

const blank = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

describe.each(testServers())('the backfill on a real install ($name)', (server) => {
  let t: TestDatabase;
  let before: Record<string, string>;
  let columns: Map<string, string[]>;
  let sessions: Session[];

  beforeAll(async () => {
    t = await freshDatabase(server, { migrate: false });
    await loadRealInstall(t.sql);
    const rows = await t.sql`
      select table_name, array_agg(column_name::text order by ordinal_position) as cols
        from information_schema.columns
       where table_schema = current_schema()
       group by table_name`;
    columns = new Map(rows.map((r) => [
      String(r.table_name),
      (r.cols as string[]).filter((c) => !(r.table_name === 'session_summaries' && SNAPSHOT_COLUMNS.includes(c))),
    ]));
    before = await upstreamDigest(t, columns);

    const migrate = await runCli(['migrate', '--db', t.url], { timeoutMs: 170_000 });
    expect(migrate.code, migrate.stderr).toBe(0);
    const backfill = await runCli(['backfill', '--db', t.url, '--batch-size', '50'], { timeoutMs: 170_000 });
    expect(backfill.code, backfill.stderr).toBe(0);
    sessions = (await t.sql`
      select session_id, enrichment, first_event_at, created_at, source_ip, snapshot_asn, snapshot_country,
             snapshot_ip_type, enrichment_at
        from session_summaries order by session_id`) as unknown as Session[];
  });
  afterAll(async () => t.drop());

  it('fills at least 95% of the sessions; only the NULL-enrichment ones are rejected', async () => {
    const filled = sessions.filter((s) => s.snapshot_country !== null).length;
    expect(sessions).toHaveLength(REAL_INSTALL.sessions);
    expect(filled / sessions.length).toBeGreaterThanOrEqual(0.95);
    const rejects = await t.sql`select reason, count(*)::int as n from backfill_rejects group by reason`;
    expect(rejects.map((r) => ({ ...r }))).toEqual([{ reason: 'no_enrichment', n: REAL_INSTALL.nullEnrichment }]);
    const [run] = await t.sql`select status, rows_filled::int, enrichment_at_from_session::int from backfill_runs`;
    expect(run?.status).toBe('completed');
    expect(run?.rows_filled).toBe(REAL_INSTALL.sessions - REAL_INSTALL.nullEnrichment);
    expect(run?.enrichment_at_from_session).toBe(REAL_INSTALL.loaderShape);
  });

  it('writes what the session JSON and the inventory say, shape by shape', async () => {
    const inventory = new Map((await t.sql`
      select ip_address, current_asn, geo_country, enrichment_updated_at from ip_inventory`).map((r) => [String(r.ip_address), r]));
    const history = await t.sql`select ip_address, asn_number, observed_at from ip_asn_history order by observed_at desc`;
    const asnAt = (ip: string, at: Date): number | null => {
      const h = history.find((r) => r.ip_address === ip && (r.observed_at as Date) <= at);
      return h ? Number(h.asn_number) : (inventory.get(ip)?.current_asn ?? null);
    };
    let loader = 0;
    let skip = 0;
    for (const s of sessions) {
      const keyed = s.enrichment?.session as Record<string, Record<string, any>> | undefined;
      if (!keyed) continue;
      const [ip, capture] = Object.entries(keyed)[0]!;
      const inv = inventory.get(ip)!;
      const as = capture.dshield?.ip?.as;
      const type = capture.spur?.[3];
      expect(s.source_ip, s.session_id).toBe(ip);
      // the inventory's geolocation (none of these says XX) before DShield's AS country
      expect(inv.geo_country).not.toBe('XX');
      expect(s.snapshot_country, s.session_id).toBe(inv.geo_country);
      if (blank(as) && blank(capture.spur?.[0])) {
        skip++;
        expect(s.snapshot_asn, s.session_id).toBe(asnAt(ip, s.first_event_at));
        expect(s.enrichment_at?.getTime(), s.session_id).toBe((inv.enrichment_updated_at as Date).getTime());
      } else {
        loader++;
        expect(s.snapshot_asn, s.session_id).toBe(Number(as));
        expect(s.snapshot_ip_type, s.session_id).toBe(blank(type) ? null : String(type).trim().toUpperCase());
        expect(s.enrichment_at?.getTime(), s.session_id).toBe(s.created_at.getTime());
      }
    }
    expect(loader).toBe(REAL_INSTALL.loaderShape);
    expect(skip).toBe(REAL_INSTALL.skipEnrich);
  });

  it("validation's own functions agree: coverage buckets, accuracy 100%, the shapes", async () => {
    const coverage = await t.sql`select bucket, reason, sessions::int from validate_coverage()`;
    expect(coverage.map((r) => ({ ...r }))).toEqual([
      { bucket: 'filled', reason: null, sessions: REAL_INSTALL.sessions - REAL_INSTALL.nullEnrichment },
      { bucket: 'no_source_ip', reason: 'no_enrichment', sessions: REAL_INSTALL.nullEnrichment },
    ]);
    const [acc] = await t.sql`select count(*)::int as n, count(*) filter (where matches)::int as ok from validate_accuracy(1000, 7)`;
    expect(acc).toEqual({ n: REAL_INSTALL.sessions - REAL_INSTALL.nullEnrichment, ok: REAL_INSTALL.sessions - REAL_INSTALL.nullEnrichment });
    const shapes = await t.sql`select shape, sessions::int from validate_enrichment_shapes() where sessions > 0`;
    expect(Object.fromEntries(shapes.map((r) => [r.shape, r.sessions]))).toEqual({
      loader: REAL_INSTALL.loaderShape, skip_enrich: REAL_INSTALL.skipEnrich, flat: REAL_INSTALL.flatShape, empty: REAL_INSTALL.nullEnrichment,
    });
  });

  it('check is clean after migrate, and validate says GO with coverage and accuracy passing', async () => {
    const check = await runCli(['check', '--db', t.url, '--json'], { timeoutMs: 170_000 });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const validate = await runCli(['validate', '--db', t.url, '--json', '--skip', 'performance'], { timeoutMs: 170_000 });
    const report = JSON.parse(validate.stdout) as { verdict: string; checks: { id: string; status: string }[] };
    expect(report.verdict, validate.stdout).toBe('GO');
    expect(validate.code).toBe(0);
    const status = (id: string) => report.checks.find((c) => c.id === id)?.status;
    for (const id of ['coverage.snapshots', 'coverage.enrichment_shapes', 'accuracy.sample', 'data_quality.orphan_source_ip']) {
      expect(status(id), id).toBe('pass');
    }
  });

  it("leaves every upstream table's rows unchanged outside the snapshot columns", async () => {
    expect(await upstreamDigest(t, columns)).toEqual(before);
    const [deps] = await t.sql`
      select (select count(*) from longtail_detection_sessions)::int as lds, (select count(*) from password_session_usage)::int as psu`;
    expect(deps).toEqual({ lds: REAL_INSTALL.longtailDetectionSessions, psu: REAL_INSTALL.passwordSessionUsage });
  });
});
