// cowrie-db seed on every server: the printed counts are SELECT count(*), the data is
// deterministic (and the same on every server: a golden md5), a non-empty database is
// refused without --reset, each --drift state has the expected column shape, the
// enrichment is in the upstream loader's shape by default (the shape mix, each shape's
// dirty cases, values that agree with the IP's inventory data), --enrichment-shape flat
// gives the flat shape with its dirty cases, and bad flags exit 64.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/db/sqlfiles.js';
import { freshDatabase, runCli, testServers, type CliResult, type TestDatabase } from './harness/servers.js';

const SESSIONS = 20_000;

/**
 * Runs `cowrie-db seed ...`. Until the command is registered in src/runner.ts the
 * same command object is mounted on a minimal program (as runner.ts does it).
 */
let registered: boolean | undefined;
async function seedCli(args: string[]): Promise<CliResult> {
  registered ??= (await runCli(['--help'])).stdout.includes('seed');
  if (registered) return runCli(['seed', ...args], { timeoutMs: 170_000 });
  const dist = (p: string): string => pathToFileURL(join(packageRoot, 'dist', p)).href;
  const script = `
    import { Command } from 'commander';
    import { seedCommand } from '${dist('commands/seed.js')}';
    import { installSignalHandlers } from '${dist('lifecycle.js')}';
    const p = new Command('cowrie-db');
    p.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : err.code === 'commander.helpDisplayed' ? 0 : 64));
    p.addCommand(seedCommand().exitOverride());
    installSignalHandlers();
    await p.parseAsync(process.argv.slice(1), { from: 'user' });`;
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, '--', 'seed', ...args], {
      cwd: packageRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

interface SeedJson {
  sessions: number;
  ips: number;
  seed: number;
  drift: string;
  enrichmentShape: string;
  schema: string;
  tables: Record<string, number>;
  removed: Record<string, number>;
}

const TABLES = ['asn_inventory', 'ip_inventory', 'ip_asn_history', 'session_summaries'];

async function counts(t: TestDatabase): Promise<Record<string, number>> {
  const c: Record<string, number> = {};
  for (const table of TABLES) c[table] = Number((await t.sql.unsafe(`select count(*)::bigint as n from ${table}`))[0]!.n);
  return c;
}

/** md5 of every generated row of the four tables, in key order, independent of the session's TimeZone. */
async function fingerprint(t: TestDatabase): Promise<string> {
  const rows = await t.sql.begin(async (tx) => {
    await tx`set local timezone = 'UTC'`;
    await tx`set local datestyle = 'ISO, MDY'`;
    return tx`
      select md5(string_agg(x, E'\\n' order by x)) as md5 from (
        select 's' || s::text as x from session_summaries s
        union all select 'i' || i::text from ip_inventory i
        union all select 'a' || a::text from asn_inventory a
        union all select 'h' || h::text from ip_asn_history h) u`;
  });
  return String(rows[0]!.md5);
}

/**
 * md5 of what the generator decides for every session (id, times, counters, enrichment
 * text, snapshot columns), in id order: columns other code adds to the table do not
 * change it, so it can be pinned as a golden value that every server must produce.
 */
async function sessionFingerprint(t: TestDatabase): Promise<string> {
  const rows = await t.sql.begin(async (tx) => {
    await tx`set local timezone = 'UTC'`;
    await tx`set local datestyle = 'ISO, MDY'`;
    return tx`
      select md5(string_agg(concat_ws('|', session_id, first_event_at, last_event_at, event_count, command_count,
                                      login_attempts, created_at, enrichment::text, source_ip, snapshot_asn,
                                      snapshot_country, snapshot_ip_type, enrichment_at), E'\n' order by session_id)) as md5
        from session_summaries`;
  });
  return String(rows[0]!.md5);
}

/** The golden session fingerprint of `seed --sessions 20000 --seed 7` (real shape), on every server. */
const GOLDEN_SEED7_REAL = '22359cdceef7a8643ee417b16f377b0a';

/** The loader's skip-enrich value of one IP (every lookup empty). */
const SKIP_ENRICH = `{"dshield":{"ip":{"asname":"","ascountry":""}},"urlhaus":"","spur":[${Array(18).fill('""').join(',')}]}`;

describe.each(testServers())('seed on $name', (server) => {
  let t: TestDatabase;
  let first: SeedJson;

  beforeAll(async () => {
    t = await freshDatabase(server, { migrate: false });
    const run = await seedCli(['--db', t.url, '--sessions', String(SESSIONS), '--seed', '7', '--json']);
    expect(run.code, run.stderr).toBe(0);
    first = JSON.parse(run.stdout) as SeedJson;
  });
  afterAll(async () => t.drop());

  it('prints the rows written per table, equal to SELECT count(*)', async () => {
    expect(first.schema).toBe('migrated');
    expect(first.tables.session_summaries).toBe(SESSIONS);
    expect(first.ips).toBe(Math.round((SESSIONS * 38_864) / 1_682_827));
    expect(first.enrichmentShape).toBe('real');
    expect(await counts(t)).toEqual(first.tables);
    // every IP has a session (named by a key under "session" or, flat, by dshield.ip.number);
    // ~2% of them are deliberately absent from ip_inventory
    const [ips] = await t.sql`
      select count(distinct ip) as n from (
        select k as ip from session_summaries,
               json_object_keys(case when json_typeof(enrichment->'session') = 'object' then enrichment->'session' end) k
        union all
        select enrichment->'dshield'->'ip'->>'number' from session_summaries) x
       where ip not in ('not-an-ip', '999.1.2.3', '')`;
    expect(Number(ips!.n)).toBe(first.ips);
    expect(first.tables.ip_inventory).toBeLessThan(first.ips);
    expect(first.tables.ip_inventory).toBeGreaterThan(first.ips * 0.95);
  });

  it('writes the real shape by default: the shape mix at its documented rates', async () => {
    const [r] = await t.sql`
      with s as (
        select e, e::text as et, f.k, f.c, f.c::text as ct,
               (select count(*) from json_object_keys(case when json_typeof(e->'session') = 'object' then e->'session' end)) as nkeys
          from (select enrichment as e from session_summaries) x
          left join lateral (select key as k, value as c
                               from json_each(case when json_typeof(x.e->'session') = 'object' then x.e->'session' end)
                              limit 1) f on true)
      select count(*) filter (where e is null) as sql_null,
             count(*) filter (where et = '{}') as empty_object,
             count(*) filter (where json_typeof(e->'session') = 'object') as loader,
             count(*) filter (where json_typeof(e->'session') = 'object' and json_typeof(e->'virustotal') = 'object') as loader_vt,
             count(*) filter (where et <> '{}' and e->'session' is null) as flat,
             count(*) filter (where et <> '{}' and e->'session' is null and e->'dshield' is null) as flat_no_dshield,
             count(*) filter (where e->'session' is null and e->'maxmind'->>'country' ~ '^[A-Z]{3}$') as flat_country_alpha3,
             count(*) filter (where e->'session' is null and e->'dshield'->'ip'->>'number' in ('not-an-ip', '999.1.2.3', '')) as flat_bad_ip,
             count(*) filter (where ct = ${SKIP_ENRICH}) as skip_enrich,
             count(*) filter (where nkeys = 2) as multi_ip,
             count(*) filter (where nkeys > 2) as more_ips,
             count(*) filter (where json_typeof(c->'spur') = 'array' and ct <> ${SKIP_ENRICH}) as spur_list,
             count(*) filter (where json_typeof(c->'spur') = 'array' and json_array_length(c->'spur') <> 18) as spur_list_not_18,
             count(*) filter (where json_typeof(c->'spur') = 'object') as spur_object,
             count(*) filter (where c is not null and json_typeof(c->'spur') not in ('array', 'object')) as spur_other
        from s`;
    const n = (k: string): number => Number(r![k]);
    const pct = (k: string): number => (100 * n(k)) / SESSIONS;
    const expectRate = (k: string, nominal: number): void => {
      expect(pct(k), k).toBeGreaterThan(nominal * 0.8);
      expect(pct(k), k).toBeLessThan(nominal * 1.2);
    };
    // nominal rates (docs/seed.md): of the 98.5% object sessions, 4% flat, the rest loader-written
    expectRate('sql_null', 1.0);
    expectRate('empty_object', 0.5);
    expectRate('loader', 94.6);
    expect(pct('loader') + pct('flat') + pct('sql_null') + pct('empty_object')).toBeCloseTo(100, 5);
    expect(n('loader_vt')).toBe(n('loader')); // the loader always writes "virustotal"
    expectRate('flat', 3.9);
    expectRate('skip_enrich', 2.95);
    expectRate('multi_ip', 0.49);
    expectRate('spur_list', 81.8);
    expectRate('spur_object', 9.85);
    expect(pct('loader') - pct('skip_enrich')).toBeGreaterThan(89); // "about 90%" with real lookups
    expect(n('more_ips')).toBe(0);
    expect(n('spur_list_not_18')).toBe(0);
    expect(n('spur_other')).toBe(0);
    // the flat sessions keep their own dirty cases (rates: the flat test below)
    expect(n('flat_no_dshield')).toBeGreaterThan(0);
    expect(n('flat_country_alpha3')).toBeGreaterThan(0);
    expect(n('flat_bad_ip')).toBeGreaterThan(0);
  });

  it('real shape: the dirty cases inside each shape, at their documented rates', async () => {
    const [r] = await t.sql`
      with s as (
        select x.*, f.k, f.c,
               (select count(*) from json_object_keys(case when json_typeof(e->'session') = 'object' then e->'session' end)) as nkeys
          from (select enrichment as e, source_ip from session_summaries) x
          left join lateral (select key as k, value as c
                               from json_each(case when json_typeof(x.e->'session') = 'object' then x.e->'session' end)
                              limit 1) f on true
         where json_typeof(x.e->'session') = 'object'),
      d as (  -- the per-IP values that went through real DShield/SPUR lookups, public and IPv6 IPs
        select s.*, c->'dshield'->'ip' as ip, c->'spur' as spur
          from s
         where c->'dshield'->'ip'->'number' is not null
           and coalesce(c->'dshield'->'ip'->>'number', '') !~ '^(10\\.|192\\.168\\.|127\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.)')
      select (select count(*) from s) as loader,
             (select count(*) from s where k in ('not-an-ip', '999.1.2.3')) as bad_key,
             (select count(*) from s where k = '') as blank_key,
             (select count(*) from s where nkeys = 0) as no_key,
             (select count(*) from s where k ~ ':') as ipv6_key,
             (select count(*) from s where k ~ '^(10\\.|192\\.168\\.|127\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.)') as private_key,
             (select count(*) from d) as looked_up,
             (select count(*) from d where json_typeof(ip->'as') = 'number' and (ip->>'as')::bigint > 0) as as_number,
             (select count(*) from d where ip->>'as' ~ '^AS[0-9]+$') as as_prefixed,
             (select count(*) from d where json_typeof(ip->'as') = 'string' and ip->>'as' ~ '^[0-9]+$') as as_digits,
             (select count(*) from d where ip->>'as' = 'ASx') as as_bad,
             (select count(*) from d where json_typeof(ip->'as') = 'number' and ip->>'as' = '0') as as_zero,
             (select count(*) from d where ip->>'as' = '') as as_empty,
             (select count(*) from d where ip->'asnumber' is not null) as asnumber,
             (select count(*) from d where ip->'as' is null and ip->'asnumber' is null) as as_absent,
             (select count(*) from d where ip->>'ascountry' ~ '^[a-z]{2}$') as country_lower,
             (select count(*) from d where ip->>'ascountry' ~ '^[A-Z]{3}$') as country_alpha3,
             (select count(*) from d where ip->>'ascountry' = '') as country_empty,
             (select count(*) from d where json_typeof(spur) = 'array') as list,
             (select count(*) from d where json_typeof(spur) = 'array' and spur->>0 ~ '^AS[0-9]+$') as list_asn_prefixed,
             (select count(*) from d where json_typeof(spur) = 'array' and spur->>0 = '' and spur->>1 <> '') as list_asn_empty,
             (select count(*) from d where json_typeof(spur) = 'array' and spur->>3 = '' and spur->>0 <> '') as list_infra_empty,
             (select count(*) from d where json_typeof(spur) = 'array'
                                       and (select bool_and(v = '') from json_array_elements_text(spur) v)) as list_all_empty,
             (select count(*) from d where json_typeof(spur) = 'array' and spur->>3 in ('DATACENTER', 'RESIDENTIAL', 'MOBILE')) as list_infra,
             (select count(*) from d where json_typeof(spur) = 'array' and spur->>13 ~ '^[A-Za-z .-]+, [A-Za-z .-]+, [A-Z]{2}$') as list_location,
             (select count(*) from d where json_typeof(spur) = 'object') as object,
             (select count(*) from d where json_typeof(spur->'asn') = 'object' and json_typeof(spur->'asn'->'number') = 'number') as object_asn_dict,
             (select count(*) from d where spur->>'asn' ~ '^AS[0-9]+$') as object_asn_prefixed,
             (select count(*) from d where json_typeof(spur->'asn') = 'number') as object_asn_number,
             (select count(*) from d where json_typeof(spur->'client'->'types') = 'array') as object_types_array,
             (select count(*) from d where json_typeof(spur->'client'->'types') = 'string') as object_types_string,
             (select count(*) from d where json_typeof(spur) = 'object' and spur->'client'->'types' is null
                                       and spur->>'infrastructure' <> '') as object_types_absent,
             (select count(*) from d where json_typeof(spur) = 'object' and spur->'location'->>'country' ~ '^[A-Z]{2}$') as object_location,
             -- a dirty ascountry where the rule reads it: the IP has no inventory row
             (select count(*) from d where ip->>'ascountry' !~ '^[A-Z]{2}$' and ip->>'ascountry' <> ''
                                       and k ~ '^[0-9.]+$' and k <> '999.1.2.3'
                                       and not exists (select 1 from ip_inventory i where i.ip_address = d.k)) as country_dirty_no_inventory,
             -- private IPs: DShield and SPUR know nothing (every value '')
             (select count(*) from s where k ~ '^(10\\.|192\\.168\\.|127\\.)'
                                       and (c->'dshield'->'ip'->>'as' <> '' or c->'dshield'->'ip'->>'ascountry' <> ''
                                            or (json_typeof(c->'spur') = 'array' and c->'spur'->>0 <> ''))) as private_with_values`;
    const n = (k: string): number => Number(r![k]);
    const rate = (k: string, of: string, nominal: number, tolerance = 0.4): void => {
      const p = (100 * n(k)) / n(of);
      expect(p, `${k} of ${of}`).toBeGreaterThan(nominal * (1 - tolerance));
      expect(p, `${k} of ${of}`).toBeLessThan(nominal * (1 + tolerance));
    };
    // the key under "session" (per loader session)
    rate('bad_key', 'loader', 0.8);
    rate('blank_key', 'loader', 0.2, 0.6);
    rate('no_key', 'loader', 0.2, 0.6);
    rate('ipv6_key', 'loader', 1.5);
    rate('private_key', 'loader', 1.0);
    // dshield.ip (per looked-up per-IP value)
    rate('as_number', 'looked_up', 92.3, 0.05);
    rate('as_prefixed', 'looked_up', 1.0);
    rate('as_digits', 'looked_up', 1.0);
    rate('as_bad', 'looked_up', 0.4);
    rate('as_zero', 'looked_up', 0.3, 0.6);
    rate('as_empty', 'looked_up', 3.0);
    rate('asnumber', 'looked_up', 1.0);
    rate('as_absent', 'looked_up', 1.0);
    rate('country_lower', 'looked_up', 1.5);
    rate('country_alpha3', 'looked_up', 1.0);
    rate('country_empty', 'looked_up', 2.0);
    // spur, list form
    rate('list', 'looked_up', 89.2, 0.05);
    rate('list_asn_prefixed', 'list', 2.0);
    rate('list_asn_empty', 'list', 3.0);
    rate('list_all_empty', 'list', 5.0);
    expect(n('list_infra_empty')).toBeGreaterThan(n('list') * 0.03); // 3% chosen + the IPs SPUR has no type for
    expect(n('list_infra')).toBeGreaterThan(n('list') * 0.7);
    expect(n('list_location')).toBeGreaterThan(n('list') * 0.9);
    // spur, object form
    rate('object', 'looked_up', 10.8, 0.2);
    rate('object_asn_dict', 'object', 50, 0.2);
    rate('object_asn_prefixed', 'object', 25, 0.3);
    rate('object_asn_number', 'object', 25, 0.3);
    rate('object_types_array', 'object', 80, 0.1);
    rate('object_types_string', 'object', 10, 0.5);
    rate('object_types_absent', 'object', 10, 0.5);
    expect(n('object_location')).toBe(n('object'));
    expect(n('country_dirty_no_inventory')).toBeGreaterThan(0);
    expect(n('private_with_values')).toBe(0);
  });

  it('real shape: the values agree with the IP slot\'s inventory data', async () => {
    const [r] = await t.sql`
      with s as (
        select x.*, f.k, f.c, f.c->'dshield'->'ip' as ip, f.c->'spur' as spur
          from (select session_id, enrichment as e, first_event_at, created_at, source_ip, snapshot_asn,
                       snapshot_country, snapshot_ip_type, enrichment_at from session_summaries) x
          join lateral (select key as k, value as c
                          from json_each(case when json_typeof(x.e->'session') = 'object' then x.e->'session' end)
                         limit 1) f on true),
      h as (  -- the IP's ASN as of the session's first event, and the inventory row
        select s.*, i.geo_country, i.ip_types, i.enrichment_updated_at, a.organization_country,
               (select hh.asn_number from ip_asn_history hh
                 where hh.ip_address = s.k and hh.observed_at <= s.first_event_at
                 order by hh.observed_at desc limit 1) as era_asn
          from s
          join ip_inventory i on i.ip_address = s.k
          left join asn_inventory a on a.asn_number = (case when json_typeof(s.ip->'as') = 'number' then (s.ip->>'as')::bigint end))
      select count(*) filter (where json_typeof(ip->'as') = 'number' and ip->>'as' <> '0') as with_as,
             count(*) filter (where json_typeof(ip->'as') = 'number' and ip->>'as' <> '0'
                                    and (ip->>'as')::bigint is distinct from era_asn) as as_not_era,
             count(*) filter (where json_typeof(ip->'as') = 'number' and ip->>'as' <> '0'
                                    and json_typeof(spur) = 'array' and spur->>0 not in ('', 'AS' || (ip->>'as'), ip->>'as')) as list_asn_differs,
             count(*) filter (where json_typeof(ip->'as') = 'number' and ip->>'as' <> '0' and ip->>'ascountry' ~ '^[A-Z]{2}$'
                                    and ip->>'ascountry' is distinct from organization_country) as ascountry_not_as,
             count(*) filter (where json_typeof(spur) = 'array' and spur->>13 <> ''
                                    and right(spur->>13, 2) is distinct from geo_country) as location_not_inventory,
             count(*) filter (where json_typeof(spur->'client'->'types') = 'array'
                                    and array(select json_array_elements_text(spur->'client'->'types')) <> ip_types) as types_not_inventory,
             count(*) filter (where json_typeof(spur) = 'array' and spur->>3 <> '' and cardinality(ip_types) = 0) as infra_without_types,
             -- pre-written snapshots: the inventory's country, the era's ASN (a quarter the current one)
             count(*) filter (where snapshot_country is not null) as prefilled,
             count(*) filter (where snapshot_country is not null and snapshot_country is distinct from geo_country) as prefilled_country_differs,
             count(*) filter (where snapshot_country is not null and enrichment_at not in (created_at, enrichment_updated_at)) as prefilled_at_differs,
             count(*) filter (where snapshot_asn is not null and snapshot_asn is distinct from era_asn) as prefilled_asn_current
        from h`;
    const n = (k: string): number => Number(r![k]);
    expect(n('with_as')).toBeGreaterThan(SESSIONS * 0.7);
    expect(n('as_not_era')).toBe(0);
    expect(n('list_asn_differs')).toBe(0);
    expect(n('ascountry_not_as')).toBe(0);
    expect(n('location_not_inventory')).toBeLessThan(n('with_as') * 0.06); // maxmind missing for ~5% of the IPs (inventory uses cymru)
    expect(n('types_not_inventory')).toBe(0);
    expect(n('infra_without_types')).toBe(0);
    expect(n('prefilled')).toBeGreaterThan(SESSIONS * 0.004);
    expect(n('prefilled_country_differs')).toBe(0);
    expect(n('prefilled_at_differs')).toBe(0);
    expect(n('prefilled_asn_current')).toBeLessThan(n('prefilled') * 0.1);
  });

  it('the human output lists each table with its count', async () => {
    const u = await freshDatabase(server, { migrate: false });
    try {
      const run = await seedCli(['--db', u.url, '--sessions', '3000']);
      expect(run.code, run.stderr).toBe(0);
      const c = await counts(u);
      for (const table of TABLES) expect(run.stdout).toMatch(new RegExp(`${table}\\s+${c[table]}\\b`));
      expect(run.stdout).toMatch(/ in \d+\.\d s/);
      expect(run.stderr).toContain('seed: session_summaries 3000/3000');
    } finally {
      await u.drop();
    }
  });

  it('refuses a non-empty database without --reset (exit 1, nothing changed)', async () => {
    const before = await fingerprint(t);
    const run = await seedCli(['--db', t.url, '--sessions', '1000']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/already has data.*--reset/);
    expect(await fingerprint(t)).toBe(before);
  });

  it('is deterministic: --reset with the same seed gives identical rows, another seed different ones', async () => {
    const before = await fingerprint(t);
    // the same rows on every server (PostgreSQL 15 and 17): a pinned value
    expect(await sessionFingerprint(t)).toBe(GOLDEN_SEED7_REAL);
    const same = await seedCli(['--db', t.url, '--sessions', String(SESSIONS), '--seed', '7', '--reset', '--json']);
    expect(same.code, same.stderr).toBe(0);
    expect((JSON.parse(same.stdout) as SeedJson).removed.session_summaries).toBe(SESSIONS);
    expect(await fingerprint(t)).toBe(before);

    // the generator does not depend on the chunking (plan) either
    await t.sql.begin(async (tx) => {
      await tx`select seed_reset()`;
      await tx`select seed_generate(${SESSIONS}, 7, NULL, 1500)`;
    });
    expect(await fingerprint(t)).toBe(before);

    // the flat shape is another data set, and the explicit default is the default
    const flat = await seedCli(['--db', t.url, '--sessions', String(SESSIONS), '--seed', '7', '--reset', '--enrichment-shape', 'flat']);
    expect(flat.code, flat.stderr).toBe(0);
    expect(await fingerprint(t)).not.toBe(before);
    const real = await seedCli(['--db', t.url, '--sessions', String(SESSIONS), '--seed', '7', '--reset', '--enrichment-shape', 'real']);
    expect(real.code, real.stderr).toBe(0);
    expect(await fingerprint(t)).toBe(before);

    const other = await seedCli(['--db', t.url, '--sessions', String(SESSIONS), '--seed', '8', '--reset', '--json']);
    expect(other.code, other.stderr).toBe(0);
    expect(await fingerprint(t)).not.toBe(before);
  });

  it('--enrichment-shape flat: every object session flat, with the dirty cases at their documented rates', async () => {
    const run = await seedCli(['--db', t.url, '--sessions', String(SESSIONS), '--seed', '7', '--reset', '--json', '--enrichment-shape', 'flat']);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as SeedJson).enrichmentShape).toBe('flat');
    const [loader] = await t.sql`select count(*) as n from session_summaries where enrichment->'session' is not null`;
    expect(Number(loader!.n)).toBe(0);
    const [r] = await t.sql`
      with s as (select enrichment e, enrichment::text et, source_ip, snapshot_country, snapshot_asn from session_summaries)
      select count(*) filter (where e is null) as sql_null,
             count(*) filter (where et = '{}') as empty_object,
             count(*) filter (where e->'dshield'->'ip'->>'number' in ('not-an-ip', '999.1.2.3', '')) as bad_ip,
             count(*) filter (where e->'dshield'->'ip'->>'number' like '%:%') as ipv6,
             count(*) filter (where e->'dshield'->'ip'->>'number' ~ '^(10\\.|192\\.168\\.|127\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.)') as private_ip,
             count(*) filter (where json_typeof(e->'dshield'->'ip'->'number') = 'null') as ip_null,
             count(*) filter (where et <> '{}' and e->'dshield' is null) as no_dshield,
             count(*) filter (where e->'cymru'->>'asn' like 'AS%') as asn_as_string,
             count(*) filter (where json_typeof(e->'cymru'->'asn') = 'null') as asn_null,
             count(*) filter (where et <> '{}' and e->'cymru' is null) as no_cymru,
             count(*) filter (where e->'maxmind'->>'country' ~ '^[a-z]{2}$') as country_lower,
             count(*) filter (where e->'maxmind'->>'country' ~ '^[A-Z]{3}$') as country_alpha3,
             count(*) filter (where et <> '{}' and e->'maxmind' is null) as no_maxmind,
             count(*) filter (where json_typeof(e->'spur'->'client'->'types') = 'string') as types_string,
             count(*) filter (where json_typeof(e->'spur'->'client'->'types') = 'array') as types_array,
             count(*) filter (where source_ip is not null) as prefilled,
             count(*) filter (where snapshot_country is not null and snapshot_country !~ '^[A-Z]{2}$') as bad_prefill
        from s`;
    const pct = (k: string): number => (100 * Number(r![k])) / SESSIONS;
    // nominal rates (docs/seed.md) with room for the sampling noise of 20k sessions
    const expectRate = (k: string, nominal: number): void => {
      expect(pct(k), k).toBeGreaterThan(nominal * 0.6);
      expect(pct(k), k).toBeLessThan(nominal * 1.4);
    };
    expectRate('sql_null', 1.0);
    expectRate('empty_object', 0.5);
    expectRate('bad_ip', 1.2);
    expectRate('ipv6', 1.5);
    expectRate('private_ip', 1.0);
    expectRate('ip_null', 0.3);
    expectRate('no_dshield', 0.5);
    expectRate('asn_as_string', 2.0);
    expectRate('asn_null', 2.0); // 1.0% by choice + the private IPs
    expectRate('no_cymru', 1.5);
    expectRate('country_lower', 1.5);
    expectRate('country_alpha3', 1.0);
    expectRate('no_maxmind', 1.5);
    expectRate('prefilled', 1.0);
    expect(pct('types_string')).toBeGreaterThan(20);
    expect(pct('types_array')).toBeGreaterThan(20);
    expect(Number(r!.bad_prefill)).toBe(0);

    // inventory: generated columns have values; some IPs changed ASN, so the ASN as of
    // a session's first event differs from current_asn for some sessions
    const [inv] = await t.sql`
      select count(*) filter (where geo_country = 'XX') as xx, count(*) filter (where is_bogon) as bogon,
             count(*) filter (where is_scanner) as scanner, count(*) filter (where cardinality(ip_types) > 0) as typed,
             count(*) filter (where geo_country !~ '^[A-Z]{2}$') as bad_country
        from ip_inventory`;
    expect(Number(inv!.bogon)).toBeGreaterThan(0);
    expect(Number(inv!.xx)).toBe(Number(inv!.bogon));
    expect(Number(inv!.scanner)).toBeGreaterThan(0);
    expect(Number(inv!.typed)).toBeGreaterThan(0);
    expect(Number(inv!.bad_country)).toBe(0);
    const [hist] = await t.sql`
      select count(*) as n from session_summaries s
        join ip_inventory i on i.ip_address = s.enrichment->'dshield'->'ip'->>'number'
        cross join lateral (select h.asn_number from ip_asn_history h
                             where h.ip_address = i.ip_address and h.observed_at <= s.first_event_at
                             order by h.observed_at desc limit 1) h
       where h.asn_number <> i.current_asn`;
    expect(Number(hist!.n)).toBeGreaterThan(0);
    const [absent] = await t.sql`
      select count(*) as n from session_summaries s
       where s.enrichment->'dshield'->'ip'->>'number' ~ '^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$'
         and s.enrichment->'dshield'->'ip'->>'number' <> '999.1.2.3'
         and not exists (select 1 from ip_inventory i where i.ip_address = s.enrichment->'dshield'->'ip'->>'number')`;
    expect(Number(absent!.n)).toBeGreaterThan(0);
  });

  it.each([
    ['--sessions', '0', /--sessions: must be an integer from 1 to 50000000/],
    ['--sessions', '50000001', /--sessions: must be an integer from 1 to 50000000/],
    ['--sessions', 'lots', /--sessions: must be an integer/],
    ['--drift', 'sideways', /--drift: must be one of none, plural-text, plural-array, incomplete-inventory/],
    ['--seed', '1.5', /--seed: must be an integer/],
    ['--enrichment-shape', 'loader', /--enrichment-shape: must be one of real, flat/],
  ])('rejects %s %s with exit 64 naming the flag', async (flag, value, message) => {
    const args = ['--db', t.url, '--sessions', '100', flag, value];
    const run = await seedCli(args);
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(message);
  });

  it('rejects --ips above --sessions with exit 64', async () => {
    const run = await seedCli(['--db', t.url, '--sessions', '100', '--ips', '101']);
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(/--ips: must be an integer from 1 to the number of sessions/);
  });

  describe.each([
    ['plural-text', { snapshot_ip_type: null, snapshot_ip_types: 'text' }],
    ['plural-array', { snapshot_ip_type: null, snapshot_ip_types: 'text[]' }],
    ['incomplete-inventory', { snapshot_ip_type: 'text', snapshot_ip_types: null }],
  ])('--drift %s', (drift, expected) => {
    let d: TestDatabase;
    let report: SeedJson;
    beforeAll(async () => {
      d = await freshDatabase(server, { migrate: false });
      const run = await seedCli(['--db', d.url, '--sessions', '5000', '--drift', drift, '--json']);
      expect(run.code, run.stderr).toBe(0);
      report = JSON.parse(run.stdout) as SeedJson;
    });
    afterAll(async () => d.drop());

    const columnType = async (table: string, column: string): Promise<string | null> => {
      const [r] = await d.sql`
        select format_type(atttypid, atttypmod) as t from pg_attribute
         where attrelid = ${table}::regclass and attname = ${column} and not attisdropped`;
      return r ? String(r.t) : null;
    };

    it('has the drifted column shape, the data, and no cowrie-db object', async () => {
      expect(report.schema).toBe('upstream');
      expect(await counts(d)).toEqual(report.tables);
      expect(await columnType('session_summaries', 'snapshot_ip_type')).toBe(expected.snapshot_ip_type);
      expect(await columnType('session_summaries', 'snapshot_ip_types')).toBe(expected.snapshot_ip_types);

      const inventoryColumns = ['geo_country', 'is_scanner', 'is_bogon', 'ip_types'];
      const present = await Promise.all(inventoryColumns.map((c) => columnType('ip_inventory', c)));
      if (drift === 'incomplete-inventory') {
        expect(present).toEqual([null, null, null, null]);
        const idx = await d.sql`select indexrelid::regclass::text as name from pg_index where indrelid = 'ip_inventory'::regclass order by 1`;
        expect(idx.map((r) => r.name)).toEqual(['ip_inventory_pkey', 'ix_ip_inventory_current_asn']);
      } else {
        expect(present).toEqual(['character varying(2)', 'boolean', 'boolean', 'text[]']);
      }

      // upstream-only: the v16 tables and schema_state, no pgmigrations, no routines
      const tables = await d.sql`select relname from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' order by 1`;
      expect(tables.map((r) => r.relname)).toEqual(['asn_inventory', 'ip_asn_history', 'ip_inventory', 'schema_state', 'session_summaries']);
      const [routines] = await d.sql`select count(*)::int as n from pg_proc where pronamespace = 'public'::regnamespace`;
      expect(routines!.n).toBe(0);
      const [version] = await d.sql`select value from schema_state where key = 'schema_version'`;
      expect(version!.value).toBe('16');
    });

    it('keeps the pre-written snapshot types in the drifted column', async () => {
      const column = expected.snapshot_ip_types ? 'snapshot_ip_types' : 'snapshot_ip_type';
      const [r] = await d.sql.unsafe(`select count(${column}) as n, count(source_ip) as ips from session_summaries`);
      expect(Number(r!.n)).toBeGreaterThan(0);
      expect(Number(r!.ips)).toBeGreaterThan(Number(r!.n));
      if (expected.snapshot_ip_types === 'text[]') {
        const [c] = await d.sql`select count(*) filter (where cardinality(snapshot_ip_types) <> 1) as n from session_summaries where snapshot_ip_types is not null`;
        expect(Number(c!.n)).toBe(0);
      }
    });
  });
});

describe('seed_apply_drift on a populated table', () => {
  const server = testServers()[0]!;
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase(server, { migrate: false });
    const run = await seedCli(['--db', t.url, '--sessions', '2000', '--drift', 'plural-text']);
    expect(run.code, run.stderr).toBe(0);
  });
  afterAll(async () => t.drop());

  it('converts plural text to one-element arrays without losing a value, and is idempotent', async () => {
    const [before] = await t.sql`select count(snapshot_ip_types) as n, string_agg(snapshot_ip_types, ',' order by session_id) as v from session_summaries`;
    await t.sql.unsafe(sqlFile('seed_apply_drift.sql')).simple();
    const changes = await t.sql`select seed_apply_drift('plural-array') as c`;
    expect(changes.map((r) => r.c)).toEqual(['converted session_summaries.snapshot_ip_types to text[] (one-element arrays)']);
    const [after] = await t.sql`select count(snapshot_ip_types) as n, string_agg(snapshot_ip_types[1], ',' order by session_id) as v from session_summaries`;
    expect(after).toEqual(before);
    expect(await t.sql`select seed_apply_drift('plural-array') as c`).toHaveLength(0);
    await expect(t.sql`select seed_apply_drift('plural-text')`).rejects.toThrow(/already text\[\]/);
    await expect(t.sql`select seed_apply_drift('bogus')`).rejects.toThrow(/kind must be one of/);
  });
});

function sqlFile(name: string): string {
  return readFileSync(join(packageRoot, 'sql', 'seed', name), 'utf8');
}

describe('seed --db sqlite:<path>', () => {
  it('writes the shared fixture; a file with data is refused; --seed, --ips, --drift and --enrichment-shape are PostgreSQL-only (exit 64)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cowrie-db-seed-'));
    try {
      const file = join(dir, 'seed.sqlite');
      const run = await seedCli(['--db', `sqlite:${file}`, '--sessions', '300', '--json']);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as SeedJson;
      expect(report.tables.session_summaries).toBe(300);
      const again = await seedCli(['--db', `sqlite:${file}`, '--sessions', '300']);
      expect(again.code).toBe(1);
      for (const [flag, value] of [['--seed', '3'], ['--ips', '10'], ['--drift', 'plural-text'], ['--enrichment-shape', 'real']]) {
        const refused = await seedCli(['--db', `sqlite:${file}`, '--sessions', '300', flag!, value!]);
        expect(refused.code, flag).toBe(64);
        expect(refused.stderr).toContain(`seed ${flag} is PostgreSQL-only`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
