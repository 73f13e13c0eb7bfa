// cowrie-db seed on every server: the printed counts are SELECT count(*), the data is
// deterministic, a non-empty database is refused without --reset, each --drift state
// has the expected column shape, the dirty cases are there, and bad flags exit 64.
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
    expect(await counts(t)).toEqual(first.tables);
    // every IP has a session; ~2% of them are deliberately absent from ip_inventory
    const [ips] = await t.sql`
      select count(distinct enrichment->'dshield'->'ip'->>'number')
               filter (where enrichment->'dshield'->'ip'->>'number' not in ('not-an-ip', '999.1.2.3', '')) as n
        from session_summaries`;
    expect(Number(ips!.n)).toBe(first.ips);
    expect(first.tables.ip_inventory).toBeLessThan(first.ips);
    expect(first.tables.ip_inventory).toBeGreaterThan(first.ips * 0.95);
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

    const other = await seedCli(['--db', t.url, '--sessions', String(SESSIONS), '--seed', '8', '--reset', '--json']);
    expect(other.code, other.stderr).toBe(0);
    expect(await fingerprint(t)).not.toBe(before);
  });

  it('carries the dirty cases at their documented rates', async () => {
    await seedCli(['--db', t.url, '--sessions', String(SESSIONS), '--seed', '7', '--reset', '--json']);
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
  it('routes to the SQLite generator; --drift is PostgreSQL-only (exit 64)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cowrie-db-seed-'));
    try {
      const file = join(dir, 'seed.sqlite');
      const run = await seedCli(['--db', `sqlite:${file}`, '--sessions', '300', '--seed', '3', '--json']);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as SeedJson;
      expect(report.tables.session_summaries).toBe(300);
      const again = await seedCli(['--db', `sqlite:${file}`, '--sessions', '300']);
      expect(again.code).toBe(1);
      const drift = await seedCli(['--db', `sqlite:${file}`, '--sessions', '300', '--drift', 'plural-text']);
      expect(drift.code).toBe(64);
      expect(drift.stderr).toMatch(/PostgreSQL-only/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
