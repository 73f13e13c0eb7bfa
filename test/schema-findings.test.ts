// schema_findings() is the one definition of drift: check prints it, migrate --dry-run plans
// from it, migrate repairs from it. On a database built the way real installs are (the ORM's
// forms, the upstream v16 names, v17) and on every drifted state the seed can build, migrate
// followed by check exits 0, or check's non-zero findings are exactly ones migrate reported
// as not repaired automatically, each with its manual step. Nothing creates a second foreign
// key, CHECK or index beside one that does the job; upstream tables and data are untouched.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadRealInstall, REAL_INSTALL } from './fixtures/real-install.js';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

interface F {
  finding_id: string;
  severity: string;
  kind: string;
  table_name: string | null;
  object_name: string | null;
  message: string;
  fix: string | null;
  repair: string;
  opt_in: string | null;
  manual_step: string | null;
}
interface CheckJson { exitCode: number; source: string; findings: F[] }
interface MigrateJson { applied: string[]; repaired: { finding_id: string; action: string }[]; notRepaired: F[] }
interface PlanJson { repair: { finding_id: string }[]; byMigrations: F[]; notRepaired: F[] }

async function check(url: string): Promise<{ code: number | null; json: CheckJson; stderr: string }> {
  const run = await runCli(['check', '--db', url, '--json']);
  return { code: run.code, json: JSON.parse(run.stdout) as CheckJson, stderr: run.stderr };
}
async function migrate(url: string, ...flags: string[]): Promise<{ code: number | null; json: MigrateJson; stderr: string }> {
  const run = await runCli(['migrate', '--db', url, '--json', ...flags]);
  if (!run.stdout.trim()) throw new Error(`migrate printed nothing (exit ${run.code}): ${run.stderr}`);
  return { code: run.code, json: JSON.parse(run.stdout) as MigrateJson, stderr: run.stderr };
}
async function plan(url: string, ...flags: string[]): Promise<PlanJson> {
  const run = await runCli(['migrate', '--db', url, '--dry-run', '--json', ...flags]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as PlanJson;
}

/** The foreign keys / CHECKs / indexes on a column set, by name, as the catalog has them. */
async function objectsOn(t: TestDatabase) {
  const fks = await t.sql`
    select conrelid::regclass::text || '(' || (select string_agg(attname, ',') from pg_attribute where attrelid = conrelid and attnum = any (conkey)) || ')' as on_,
           count(*)::int as n, bool_and(convalidated) as valid
      from pg_constraint where contype = 'f' and conrelid in ('session_summaries'::regclass, 'ip_inventory'::regclass)
     group by 1 order by 1`;
  const [ck] = await t.sql`
    select count(*)::int as n from pg_constraint
     where conrelid = 'session_summaries'::regclass and contype = 'c' and pg_get_constraintdef(oid) ~ 'snapshot_country'`;
  const idx = await t.sql`
    select indrelid::regclass::text as t, regexp_replace(pg_get_indexdef(indexrelid), '^CREATE (UNIQUE )?INDEX \\S+ ON \\S+ ', '') as def, count(*)::int as n
      from pg_index where indrelid in ('session_summaries'::regclass, 'ip_inventory'::regclass, 'asn_inventory'::regclass, 'ip_asn_history'::regclass)
     group by 1, 2 having count(*) > 1`;
  return { fks: Object.fromEntries(fks.map((r) => [r.on_ as string, { n: r.n as number, valid: r.valid as boolean }])), checks: ck?.n as number, duplicateIndexes: idx };
}

/** Row counts and column lists of the upstream tables that are not ours: must never change. */
async function upstreamState(t: TestDatabase) {
  const tables = ['raw_events', 'files', 'command_stats', 'longtail_analysis', 'longtail_detections', 'longtail_detection_sessions',
    'password_tracking', 'password_session_usage', 'ssh_key_intelligence', 'enrichment_cache', 'schema_metadata', 'dead_letter_events', 'session_summaries'];
  const out: Record<string, unknown> = {};
  for (const name of tables) {
    const [c] = await t.sql.unsafe(`select count(*)::int as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from ${name} x`);
    const cols = await t.sql`select string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' order by attnum) as c
                               from pg_attribute where attrelid = ${name}::regclass and attnum > 0 and not attisdropped`;
    out[name] = name === 'session_summaries' ? { n: c?.n } : { n: c?.n, h: c?.h, cols: cols[0]?.c };
  }
  return out;
}

/** What the property requires of migrate -> check. */
function expectAgreement(label: string, after: CheckJson, migrated: MigrateJson): void {
  const notRepaired = new Set(migrated.notRepaired.map((f) => f.finding_id));
  const blocking = after.findings.filter((f) => f.severity === 'CRITICAL' || f.severity === 'ERROR');
  for (const f of blocking) {
    expect(f.repair, `${label}: ${f.finding_id} is left although auto-repairable`).toBe('manual');
    expect(f.manual_step, `${label}: ${f.finding_id} has a manual step`).toBeTruthy();
    expect(notRepaired.has(f.finding_id), `${label}: migrate reported ${f.finding_id} as not repaired`).toBe(true);
  }
  expect(after.exitCode === 0 || blocking.length > 0, `${label}: exit ${after.exitCode} explained`).toBe(true);
  // nothing auto-repairable is left, whatever its severity
  expect(after.findings.filter((f) => f.repair === 'auto').map((f) => f.finding_id), `${label}: auto findings left`).toEqual([]);
  // and check lists nothing migrate did not report
  for (const f of after.findings.filter((x) => x.repair !== 'none')) expect(notRepaired.has(f.finding_id), `${label}: ${f.finding_id} reported by migrate`).toBe(true);
}

describe.each(testServers())('schema findings on $name', (server) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await freshDatabase(server, { migrate: false });
  });
  afterEach(async () => t.drop());

  it('a real install: check exits 2, migrate repairs it adding no second FK/CHECK/index, check exits 0 with opt-in items only; --drop-duplicates leaves one of each', async () => {
    await loadRealInstall(t.sql);
    const upstreamBefore = await upstreamState(t);
    const before = await check(t.url);
    expect(before.code, before.stderr).toBe(2);
    const ids = before.json.findings.map((f) => f.finding_id);
    expect(ids).toContain('column:ip_inventory.geo_country');
    expect(ids).toContain('constraint:session_summaries.fk_session_summaries_source_ip'); // the NOT VALID fk_session_source_ip does its job
    const notValid = before.json.findings.find((f) => f.finding_id === 'constraint:session_summaries.fk_session_summaries_source_ip');
    expect(notValid?.object_name).toBe('fk_session_source_ip');
    expect(notValid?.kind).toBe('constraint_not_valid');
    expect(notValid?.fix).toMatch(/VALIDATE CONSTRAINT fk_session_source_ip/);
    // what real installs have under other names is not reported as missing
    expect(ids).not.toContain('constraint:session_summaries.ck_session_summaries_snapshot_country');
    expect(ids).not.toContain('constraint:ip_inventory.fk_ip_inventory_current_asn');
    expect(ids).not.toContain('index:session_summaries.ix_session_summaries_source_ip');
    expect(ids.filter((i) => i.startsWith('column:asn_inventory') || i.startsWith('column:ip_asn_history'))).toEqual([]);
    // schema_version 17 is the upstream's: information, nothing to do
    const version = before.json.findings.find((f) => f.kind === 'schema_version');
    expect([version?.severity, version?.repair]).toEqual(['INFO', 'none']);
    // json enrichment accepted, conversion opt-in; the duplicates reported, removal opt-in
    expect(before.json.findings.filter((f) => f.kind === 'json_enrichment').map((f) => [f.table_name, f.severity, f.opt_in]))
      .toEqual([['asn_inventory', 'INFO', 'convert-jsonb'], ['ip_inventory', 'INFO', 'convert-jsonb']]);
    const dupFk = before.json.findings.find((f) => f.kind === 'duplicate_foreign_key');
    expect(dupFk?.table_name).toBe('ip_inventory');
    expect(dupFk?.repair).toBe('opt-in');
    expect(dupFk?.fix).toMatch(/^ALTER TABLE ip_inventory DROP CONSTRAINT /);
    expect(dupFk?.message).toMatch(/2 times instead of once/);

    const dry = await plan(t.url);
    expect(await check(t.url).then((c) => c.code)).toBe(2); // the dry run changed nothing

    const migrated = await migrate(t.url);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stderr).not.toMatch(/NOTICE/);
    // every auto finding of check was planned by the dry run and is repaired
    const autoBefore = before.json.findings.filter((f) => f.repair === 'auto').map((f) => f.finding_id).sort();
    expect([...dry.repair.map((r) => r.finding_id), ...dry.byMigrations.map((f) => f.finding_id)].sort()).toEqual(expect.arrayContaining(autoBefore));
    expect(migrated.json.repaired.map((r) => r.finding_id).sort()).toEqual(autoBefore);

    const after = await check(t.url);
    expect(after.code, JSON.stringify(after.json.findings.filter((f) => f.severity !== 'INFO'), null, 1)).toBe(0);
    expectAgreement('real install', after.json, migrated.json);
    expect(after.json.findings.every((f) => f.repair === 'opt-in' || f.repair === 'none')).toBe(true);
    const objs = await objectsOn(t);
    expect(objs.fks).toEqual({ 'ip_inventory(current_asn)': { n: 2, valid: true }, 'session_summaries(source_ip)': { n: 1, valid: true } });
    expect(objs.checks).toBe(1);
    expect(await upstreamState(t)).toEqual(upstreamBefore);

    const dropped = await migrate(t.url, '--drop-duplicates');
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.json.repaired.map((r) => r.action)).toContain('duplicate_foreign_key');
    const final = await check(t.url);
    expect(final.code).toBe(0);
    expect(final.json.findings.filter((f) => f.kind.startsWith('duplicate_'))).toEqual([]);
    const objs2 = await objectsOn(t);
    expect(objs2.fks).toEqual({ 'ip_inventory(current_asn)': { n: 1, valid: true }, 'session_summaries(source_ip)': { n: 1, valid: true } });
    expect(objs2.checks).toBe(1);
    expect(objs2.duplicateIndexes).toEqual([]);
    expect(await upstreamState(t)).toEqual(upstreamBefore);
    const [v] = await t.sql`select value from schema_state where key = 'schema_version'`;
    expect(v?.value).toBe(REAL_INSTALL.schemaVersion);
  });

  it('duplicates an older cowrie-db added beside the upstream ones are reported, the validated one kept; NOT VALID equivalents validated', async () => {
    await loadRealInstall(t.sql);
    // what the migrate of issue #18's report did: a second FK on source_ip, a second CHECK
    await t.sql.unsafe(`
      alter table session_summaries add constraint fk_session_summaries_source_ip foreign key (source_ip) references ip_inventory (ip_address);
      alter table session_summaries add constraint ck_session_summaries_snapshot_country check (snapshot_country is null or snapshot_country ~ '^[A-Z]{2}$');
      create index ix_session_summaries_snapshot_asn on session_summaries (snapshot_asn);`);
    const before = await check(t.url);
    const dups = before.json.findings.filter((f) => f.kind.startsWith('duplicate_') && f.table_name === 'session_summaries');
    // kept: the validated one (ours, over the NOT VALID upstream FK), then ours (expected_*() names)
    expect(dups.map((f) => [f.kind, f.object_name]).sort()).toEqual([
      ['duplicate_check', 'snapshot_country_iso'],
      ['duplicate_foreign_key', 'fk_session_source_ip'],
      ['duplicate_index', 'idx_session_snapshot_asn'],
    ]);
    expect(dups.find((f) => f.kind === 'duplicate_foreign_key')?.message).toMatch(/does the same as fk_session_summaries_source_ip/);
    // the expectation is met by the validated one: no validation step for fk_session_source_ip
    expect(before.json.findings.map((f) => f.kind)).not.toContain('constraint_not_valid');
    const migrated = await migrate(t.url, '--drop-duplicates');
    expect(migrated.code, migrated.stderr).toBe(0);
    const after = await check(t.url);
    expect(after.code).toBe(0);
    expectAgreement('old duplicates', after.json, migrated.json);
    const objs = await objectsOn(t);
    expect(objs.fks['session_summaries(source_ip)']).toEqual({ n: 1, valid: true });
    expect(objs.checks).toBe(1);
    expect(objs.duplicateIndexes).toEqual([]);
    const [kept] = await t.sql`select conname from pg_constraint where conrelid = 'session_summaries'::regclass and contype = 'f'`;
    expect(kept?.conname).toBe('fk_session_summaries_source_ip');
  });

  it('--convert-jsonb converts the inventories\' json enrichment, values and generated columns kept', async () => {
    await loadRealInstall(t.sql);
    expect((await migrate(t.url)).code).toBe(0);
    const snapshot = async () => t.sql`select ip_address, enrichment::jsonb::text as e, geo_country, is_scanner, is_bogon from ip_inventory order by 1`;
    const before = await snapshot();
    const dry = await plan(t.url, '--convert-jsonb');
    const conv = dry.repair.filter((r) => r.finding_id.startsWith('jsonb:'));
    expect(conv.length).toBe(2);
    const run = await migrate(t.url, '--convert-jsonb');
    expect(run.code, run.stderr).toBe(0);
    const types = await t.sql`select table_name, data_type from information_schema.columns
                               where column_name = 'enrichment' and table_name in ('ip_inventory', 'asn_inventory') order by 1`;
    expect(types.map((r) => r.data_type)).toEqual(['jsonb', 'jsonb']);
    expect(await snapshot()).toEqual(before);
    const after = await check(t.url);
    expect(after.code).toBe(0);
    expect(after.json.findings.filter((f) => f.kind !== 'duplicate_index' && f.kind !== 'duplicate_foreign_key').map((f) => f.kind)).toEqual(['schema_version']);
  });

  it('check needs no CREATEDB: a role without it (with and without CREATE on the schema) gets the same findings', async () => {
    await loadRealInstall(t.sql);
    const key = (c: CheckJson) => c.findings.map((f) => `${f.finding_id}|${f.severity}|${f.repair}`);
    const suffix = `${process.pid}_${Date.now().toString(36)}`;
    const asRole = async (withCreate: boolean, expectedSource: string, owner: CheckJson) => {
      const role = `chk_${withCreate ? 'c' : 'r'}_${suffix}`;
      await t.sql.unsafe(`create role ${role} login password 'chk-pw-1' nocreatedb nocreaterole`);
      try {
        await t.sql.unsafe(`grant connect on database ${t.name} to ${role}; grant usage on schema public to ${role};
                            grant select on all tables in schema public to ${role};`);
        if (withCreate) await t.sql.unsafe(`grant create on schema public to ${role}`);
        const [r] = await t.sql`select rolcreatedb, rolsuper from pg_roles where rolname = ${role}`;
        expect([r?.rolcreatedb, r?.rolsuper]).toEqual([false, false]);
        const res = await check(t.url.replace(/\/\/[^@]+@/, `//${role}:chk-pw-1@`));
        expect(res.code, res.stderr).toBe(owner.exitCode);
        expect(res.json.source).toBe(expectedSource);
        expect(key(res.json)).toEqual(key(owner));
      } finally {
        await t.sql.unsafe(`revoke all on all tables in schema public from ${role}; revoke all on schema public from ${role};
                            revoke all on database ${t.name} from ${role}; drop role ${role}`);
      }
    };
    // no cowrie-db function installed yet: a role that may CREATE in the schema loads this version's, rolled back
    const first = await check(t.url);
    expect(first.code).toBe(2);
    await asRole(true, 'current', first.json);
    const [fns] = await t.sql`select count(*)::int as n from pg_proc where proname = 'schema_findings'`;
    expect(fns?.n).toBe(0); // nothing was left behind
    // after migrate, a role with read access only uses the installed copy
    expect((await migrate(t.url)).code).toBe(0);
    await t.sql`alter table ip_inventory drop column is_bogon`;
    await t.sql`drop index ix_asn_inventory_country`;
    const owner = await check(t.url);
    expect(owner.code).toBe(2);
    await asRole(false, 'installed', owner.json);
  });

  it('schema_version: 17 is never written down; 15 on a complete schema is recorded as 16', async () => {
    await loadRealInstall(t.sql);
    expect((await migrate(t.url)).code).toBe(0);
    let [v] = await t.sql`select value from schema_state where key = 'schema_version'`;
    expect(v?.value).toBe('17');
    await t.sql`update schema_state set value = '15' where key = 'schema_version'`;
    const before = await check(t.url);
    const f = before.json.findings.find((x) => x.kind === 'schema_version');
    expect([f?.severity, f?.repair]).toEqual(['WARNING', 'auto']);
    expect((await migrate(t.url)).code).toBe(0);
    [v] = await t.sql`select value from schema_state where key = 'schema_version'`;
    expect(v?.value).toBe('16');
  });

  it('rows violating a needed constraint: not auto-repairable, with the rows and the fix; the rest is repaired; migrate exits 1', async () => {
    await loadRealInstall(t.sql);
    await t.sql`insert into ip_asn_history (ip_address, asn_number, observed_at) values ('203.0.113.250', 16509, '2025-10-02 00:00:00+00')`;
    const migrated = await migrate(t.url);
    expect(migrated.code).toBe(1);
    const left = migrated.json.notRepaired.filter((f) => f.repair === 'manual');
    expect(left.map((f) => f.finding_id)).toEqual(['constraint:ip_asn_history.fk_ip_asn_history_ip_address', 'constraint:ip_asn_history.fk_ip_asn_history_ip_address:validate']);
    expect(left[0]?.manual_step).toMatch(/1 rows of ip_asn_history violate fk_ip_asn_history_ip_address.*Fix: insert the missing addresses/);
    const after = await check(t.url);
    expect(after.code).toBe(1);
    expectAgreement('orphan history row', after.json, migrated.json);
    // everything else was repaired
    expect(after.json.findings.filter((f) => f.severity === 'CRITICAL')).toEqual([]);
  });

  it('migrate is quiet: no NOTICE from its own installation steps unless --verbose', async () => {
    await loadRealInstall(t.sql);
    const first = await runCli(['migrate', '--db', t.url]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/NOTICE|does not exist, skipping|already exists, skipping/);
    const verbose = await runCli(['migrate', '--db', t.url, '--verbose']);
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stderr).toMatch(/NOTICE/);
  });
});

describe.each(testServers())('check and migrate agree on every drifted state ($name)', (server) => {
  // The seed's drift kinds (sql/seed/seed_apply_drift.sql) and the real-install forms, alone and combined.
  const states: { label: string; build: (t: TestDatabase) => Promise<void> }[] = [
    ...['none', 'plural-text', 'plural-array', 'incomplete-inventory', 'plural-array,incomplete-inventory'].map((kind) => ({
      label: `seed --drift ${kind}`,
      build: async (t: TestDatabase) => {
        const run = await runCli(['seed', '--db', t.url, '--sessions', '120', '--drift', kind]);
        expect(run.code, run.stderr).toBe(0);
      },
    })),
    { label: 'real install', build: (t) => loadRealInstall(t.sql) },
    {
      label: 'real install, snapshot_ip_types text[] and the v16 FK missing',
      build: async (t) => {
        await loadRealInstall(t.sql);
        await t.sql.unsafe(`alter table session_summaries drop constraint fk_session_source_ip;
          alter table session_summaries rename column snapshot_ip_type to snapshot_ip_types;
          alter table session_summaries alter column snapshot_ip_types type text[] using case when snapshot_ip_types is null then null else array[snapshot_ip_types] end;`);
      },
    },
  ];
  for (const state of states) {
    it(state.label, async () => {
      const t = await freshDatabase(server, { migrate: false });
      try {
        await state.build(t);
        const before = await check(t.url);
        const migrated = await migrate(t.url);
        const after = await check(t.url);
        expectAgreement(state.label, after.json, migrated.json);
        expect(migrated.code, migrated.stderr).toBe(after.json.findings.some((f) => f.repair === 'manual' && ['CRITICAL', 'ERROR'].includes(f.severity)) ? 1 : 0);
        // whatever check called auto-repairable before is gone now
        const left = new Set(after.json.findings.map((f) => f.finding_id));
        for (const f of before.json.findings.filter((x) => x.repair === 'auto')) expect(left.has(f.finding_id), `${state.label}: ${f.finding_id}`).toBe(false);
        // a second migrate has nothing left to do
        const again = await migrate(t.url);
        expect(again.json.repaired).toEqual([]);
      } finally {
        await t.drop();
      }
    });
  }
});
