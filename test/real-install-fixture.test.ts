// The real-install fixture builds what DOMAIN.md says real installs have, on every server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REAL_INSTALL, loadRealInstall } from './fixtures/real-install.js';
import { freshDatabase, testServers, type TestDatabase } from './harness/servers.js';

describe.each(testServers())('real-install fixture on $name', (server) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase(server, { migrate: false });
    await loadRealInstall(t.sql);
  });
  afterAll(async () => t.drop());

  it('has the ORM forms, the v16 names, v17 and schema_version 17', async () => {
    const [v] = await t.sql`select value from schema_state where key = 'schema_version'`;
    expect(v?.value).toBe(REAL_INSTALL.schemaVersion);
    const cols = await t.sql`
      select table_name || '.' || column_name as c, data_type, column_default
        from information_schema.columns
       where table_schema = current_schema() and table_name in ('ip_inventory', 'asn_inventory', 'ip_asn_history', 'session_summaries')`;
    const col = (c: string) => cols.find((r) => r.c === c);
    expect(col('ip_inventory.enrichment')?.data_type).toBe('json');
    expect(col('ip_inventory.geo_country')).toBeUndefined();
    expect(col('ip_inventory.ip_types')).toBeUndefined();
    expect(col('ip_inventory.enrichment_version')).toBeDefined();
    expect(col('asn_inventory.rir_registry')).toBeDefined();
    expect(col('asn_inventory.asn_number')?.column_default).toMatch(/nextval/);
    expect(col('ip_asn_history.verification_source')).toBeDefined();
    expect(col('session_summaries.enrichment')?.data_type).toBe('json');
    for (const c of ['ssh_key_fingerprint', 'password_hash', 'command_signature', 'snapshot_ip_type', 'source_ip'])
      expect(col(`session_summaries.${c}`), c).toBeDefined();
    const fks = await t.sql`
      select conrelid::regclass::text as t, conname, convalidated, confdeltype
        from pg_constraint where contype = 'f' order by 1, 2`;
    const fk = (name: string) => fks.find((r) => r.conname === name);
    expect(fk('fk_session_source_ip')?.convalidated).toBe(false);
    expect(fk('fk_ip_current_asn')?.convalidated).toBe(true);
    expect(fk('fk_ip_inventory_current_asn_asn_inventory')?.convalidated).toBe(true);
    expect(fk('fk_longtail_detection_sessions_session_id_session_summaries')?.confdeltype).toBe('c');
    expect(fk('fk_password_session_usage_session_id_session_summaries')).toBeDefined();
    const [ck] = await t.sql`select count(*)::int as n from pg_constraint where conname = 'snapshot_country_iso'`;
    expect(ck?.n).toBe(1);
    // the duplicates under two names
    const idx = await t.sql`select indexname from pg_indexes where schemaname = current_schema()`;
    const names = idx.map((r) => r.indexname as string);
    for (const n of ['ix_ip_inventory_current_asn', 'idx_ip_current_asn', 'ix_asn_inventory_org_name', 'idx_asn_org_name', 'idx_session_source_ip', 'idx_ip_staleness_active'])
      expect(names, n).toContain(n);
  });

  it('has the data the header promises, snapshot columns all NULL', async () => {
    const [s] = await t.sql`
      select count(*)::int as sessions,
             count(*) filter (where enrichment::jsonb ? 'session' and enrichment::jsonb ? 'virustotal')::int as loader,
             count(*) filter (where enrichment::jsonb ? 'session' and not enrichment::jsonb ? 'virustotal')::int as skip,
             count(*) filter (where enrichment::jsonb ? 'dshield')::int as flat,
             count(*) filter (where enrichment is null)::int as nulls,
             count(*) filter (where source_ip is not null or snapshot_asn is not null or snapshot_country is not null
                              or snapshot_ip_type is not null or enrichment_at is not null)::int as snapshots
        from session_summaries`;
    expect(s).toEqual({ sessions: REAL_INSTALL.sessions, loader: REAL_INSTALL.loaderShape, skip: REAL_INSTALL.skipEnrich,
                        flat: REAL_INSTALL.flatShape, nulls: REAL_INSTALL.nullEnrichment, snapshots: 0 });
    // every loader-shape session's IP key is in ip_inventory; spur is an 18-string list
    const [orphans] = await t.sql`
      select count(*)::int as n from session_summaries s, json_object_keys(s.enrichment -> 'session') k
       where not exists (select 1 from ip_inventory i where i.ip_address = k)`;
    expect(orphans?.n).toBe(0);
    const [spur] = await t.sql`
      select count(*)::int as n from session_summaries s, json_each(s.enrichment -> 'session') e
       where json_array_length(e.value -> 'spur') <> 18`;
    expect(spur?.n).toBe(0);
    const [counts] = await t.sql`
      select (select count(*) from ip_inventory)::int as ips, (select count(*) from asn_inventory)::int as asns,
             (select count(*) from ip_asn_history)::int as hist,
             (select count(*) from longtail_detection_sessions)::int as lds,
             (select count(*) from password_session_usage)::int as psu`;
    expect(counts).toEqual({ ips: REAL_INSTALL.ips, asns: REAL_INSTALL.asns, hist: REAL_INSTALL.ipAsnHistory,
                             lds: REAL_INSTALL.longtailDetectionSessions, psu: REAL_INSTALL.passwordSessionUsage });
  });

  it('is deterministic: the same content on every load', async () => {
    const digest = async (sql: typeof t.sql) => {
      const [d] = await sql`select md5(string_agg(session_id || enrichment::text || first_event_at::text, '|' order by session_id)) as d from session_summaries`;
      return d?.d as string;
    };
    const other = await freshDatabase(server, { migrate: false });
    try {
      await loadRealInstall(other.sql);
      expect(await digest(other.sql)).toBe(await digest(t.sql));
    } finally {
      await other.drop();
    }
  });
});
