// The SQLite path end to end (src/sqlite): the shared fixture as a development install's
// data, dry run, batched backfill with resume, fill-only-NULL, rejects, a kill -9 in the
// middle, the errors (the snapshot_ip_types rename among them); and parity with the
// PostgreSQL engine: the parsers and the snapshot rule give the same results as
// backfill_parse_* and backfill_snapshot_source on the shared fixture file.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/db/sqlfiles.js';
import { CliError, ExitCode } from '../src/errors.js';
import { backfillSqlite, REJECT_REASONS } from '../src/sqlite/backfill.js';
import { readFixture, seedSqliteFixture, SQLITE_FIXTURE_SESSIONS } from '../src/sqlite/fixture.js';
import { openSqlite, sqliteUnsupported } from '../src/sqlite/open.js';
import { parseAsn, parseCountry, parseIp, parseIpType, parseTimestamp, spurIpType } from '../src/sqlite/parse.js';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'cowrie-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const newFile = (): string => join(dir, `t${fileNo++}.sqlite`);
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
/** A new file holding the shared fixture. */
const fixtureFile = (sessions?: number): string => {
  const f = newFile();
  seedSqliteFixture(f, sessions);
  return f;
};

type Row = Record<string, unknown>;
function query(path: string, sql: string, ...params: unknown[]): Row[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as Row[];
  } finally {
    db.close();
  }
}
const SNAP = 'session_id, source_ip, snapshot_asn, snapshot_country, snapshot_ip_type, enrichment_at';
const snapshots = (path: string): Row[] => query(path, `SELECT ${SNAP} FROM session_summaries ORDER BY session_id`);
const count = (path: string, sql: string): number => Number(query(path, sql)[0]!.n);

async function expectCliError(p: Promise<unknown> | (() => unknown), exitCode: number, message: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a CliError').toBeInstanceOf(CliError);
  expect((caught as CliError).exitCode).toBe(exitCode);
  expect((caught as CliError).message).toMatch(message);
}

describe('the shared fixture as a development install', () => {
  it('loads whole or in part, refuses a file with data unless reset, and has what the docs say', async () => {
    expect(readFixture().session_summaries).toHaveLength(SQLITE_FIXTURE_SESSIONS);
    const f = newFile();
    const tables = seedSqliteFixture(f);
    expect(tables).toEqual({ asn_inventory: 8, ip_inventory: 27, ip_asn_history: 29, session_summaries: SQLITE_FIXTURE_SESSIONS });
    expect(count(f, 'SELECT count(*) AS n FROM session_summaries')).toBe(SQLITE_FIXTURE_SESSIONS);
    expect(query(f, `SELECT value FROM schema_state WHERE key = 'schema_version'`)).toEqual([{ value: '16' }]);
    // both shapes and the dirty cases
    expect(count(f, `SELECT count(*) AS n FROM session_summaries WHERE json_valid(enrichment) AND enrichment -> '$.session' IS NOT NULL`)).toBeGreaterThan(300);
    expect(count(f, `SELECT count(*) AS n FROM session_summaries WHERE json_valid(enrichment) AND enrichment -> '$.dshield' IS NOT NULL`)).toBeGreaterThan(100);
    expect(count(f, `SELECT count(*) AS n FROM session_summaries WHERE NOT json_valid(enrichment)`)).toBe(1);
    await expectCliError(() => seedSqliteFixture(f), ExitCode.error, /already has data.*--reset/);
    expect(seedSqliteFixture(f, 100, true).session_summaries).toBe(100);
    expect(count(f, 'SELECT count(*) AS n FROM session_summaries')).toBe(100);
    await expectCliError(() => seedSqliteFixture(newFile(), SQLITE_FIXTURE_SESSIONS + 1), ExitCode.usage, /--sessions: .*shared fixture, which has 603 sessions/);
  });
});

describe('backfillSqlite', () => {
  const file = fixtureFile();
  const before = snapshots(file);

  it('dry run: counts what would change and writes nothing at all', async () => {
    const hash = sha(file);
    const d = await backfillSqlite(file, { dryRun: true, batchSize: 50 });
    expect(sha(file)).toBe(hash);
    expect(existsSync(`${file}-journal`) || existsSync(`${file}-wal`)).toBe(false);
    expect(d).toMatchObject({ dryRun: true, runId: null, status: 'completed' });
    expect(d.rows.scanned).toBe(before.filter((r) => Object.values(r).includes(null)).length);
    expect(d.rows.scanned).toBe(d.rows.filled + d.rows.unchanged + d.rows.rejected);
    expect(d.batches).toBe(Math.ceil(d.rows.scanned / 50));
    expect(d.rows.rejected).toBeGreaterThan(0);
    // max batches bounds a dry run too (the upstream dry-run re-read one batch forever)
    const d2 = await backfillSqlite(file, { dryRun: true, batchSize: 50, maxBatches: 2 });
    expect(d2).toMatchObject({ batches: 2, status: 'paused', stoppedBy: 'max_batches' });
    expect(d2.rows.scanned).toBe(100);
  });

  it('runs in batches, stops at max-batches, resumes from the checkpoint, and matches the dry run', async () => {
    const dry = await backfillSqlite(file, { dryRun: true, batchSize: 37 });
    const first = await backfillSqlite(file, { batchSize: 37, maxBatches: 3 });
    expect(first).toMatchObject({ status: 'paused', stoppedBy: 'max_batches', batches: 3, resumed: false });
    expect(first.rows.scanned).toBe(111);
    const run = query(file, 'SELECT * FROM backfill_runs WHERE run_id = ?', first.runId)[0]!;
    expect(run).toMatchObject({ status: 'paused', batches: 3, rows_scanned: 111, last_key: first.lastKey });
    // the checkpoint is exact: no session after last_key was written
    const written = new Set(before.filter((r) => r.snapshot_country !== null).map((r) => r.session_id));
    const after = query(file, `SELECT session_id FROM session_summaries WHERE session_id > ? AND snapshot_country IS NOT NULL`, first.lastKey);
    expect(after.filter((r) => !written.has(r.session_id))).toEqual([]);

    const second = await backfillSqlite(file, { batchSize: 37 });
    expect(second).toMatchObject({ runId: first.runId, resumed: true, status: 'completed', stoppedBy: 'done' });
    const total = query(file, 'SELECT * FROM backfill_runs WHERE run_id = ?', first.runId)[0]!;
    expect(total).toMatchObject({ status: 'completed', batches: Math.ceil(dry.rows.scanned / 37), rows_scanned: dry.rows.scanned,
      rows_filled: dry.rows.filled, rows_unchanged: dry.rows.unchanged, rows_rejected: dry.rows.rejected,
      rows_no_inventory: dry.rows.noInventory, rows_multi_ip: dry.rows.multiIp, enrichment_at_from_session: dry.sources.enrichment_at.session });
    expect(total.finished_at).not.toBeNull();

    const rejects = query(file, 'SELECT reason, count(*) AS n FROM backfill_rejects WHERE run_id = ? GROUP BY reason', first.runId);
    expect(Object.fromEntries(rejects.map((r) => [r.reason, r.n]))).toEqual(dry.rejects);
    expect(new Set(rejects.map((r) => r.reason))).toEqual(new Set(REJECT_REASONS)); // every reason, incl. row_error
  });

  it('fills only NULLs and never writes a rejected row', () => {
    const now = new Map(snapshots(file).map((r) => [r.session_id, r]));
    const cols = ['source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at'];
    for (const b of before) for (const c of cols) if (b[c] !== null) expect(now.get(b.session_id)![c], `${String(b.session_id)}.${c}`).toBe(b[c]);
    const rejected = query(file, `SELECT s.*, r.reason, r.detail FROM backfill_rejects r JOIN session_summaries s USING (session_id)`);
    for (const r of rejected) for (const c of cols) expect(r[c]).toBe(before.find((b) => b.session_id === r.session_id)![c]);
    const details = new Set(rejected.map((r) => `${String(r.reason)}:${String(r.detail)}`));
    for (const d of ['bad_ip:not-an-ip', 'bad_ip:999.1.2.3', 'bad_asn:n/a', 'bad_country:CHN', 'bad_enriched_at:soon', 'no_enrichment:{}', 'no_enrichment:null']) {
      expect(details.has(d), d).toBe(true);
    }
  });

  it('a second run changes nothing', async () => {
    const rows = JSON.stringify(snapshots(file));
    const again = await backfillSqlite(file, { batchSize: 100 });
    expect(again).toMatchObject({ status: 'completed', resumed: false });
    expect(again.rows.filled).toBe(0);
    expect(JSON.stringify(snapshots(file))).toBe(rows);
  });

  it('stops between batches on an abort signal (run paused), and restart starts a new run', async () => {
    const f = fixtureFile(200);
    const ac = new AbortController();
    const s = await backfillSqlite(f, { batchSize: 20, signal: ac.signal, onBatch: (batches) => { if (batches === 2) ac.abort(); } });
    expect(s).toMatchObject({ status: 'paused', stoppedBy: 'signal', batches: 2 });
    const r = await backfillSqlite(f, { batchSize: 20, restart: true });
    expect(r.runId).not.toBe(s.runId);
    expect(r).toMatchObject({ resumed: false, status: 'completed' });
    expect(query(f, 'SELECT run_id, status FROM backfill_runs ORDER BY run_id')).toEqual([
      { run_id: s.runId, status: 'abandoned' }, { run_id: r.runId, status: 'completed' }]);
  });

  it('kill -9 in the middle of a run loses at most the batch in flight; resuming gives the same table as an uninterrupted run', async () => {
    const f = fixtureFile();
    const reference = newFile();
    copyFileSync(f, reference);
    await backfillSqlite(reference, { batchSize: 25 });

    const dist = join(packageRoot, 'dist', 'sqlite', 'backfill.js');
    expect(existsSync(dist), 'npm test builds dist/ first').toBe(true);
    const script = join(dir, 'run.mjs');
    writeFileSync(script, `import { backfillSqlite } from ${JSON.stringify(dist)};
      await backfillSqlite(process.argv[2], { batchSize: 25, pauseMs: 40, onBatch: (batches) => console.log(batches) });`);
    const child = spawn(process.execPath, [script, f], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        if (Number(d.toString().trim().split('\n').pop()) >= 5) child.kill('SIGKILL');
      });
      child.on('close', () => resolve());
    });
    const run = query(f, 'SELECT status, batches FROM backfill_runs')[0]!;
    expect(run.status).toBe('running'); // killed: nobody marked it
    expect(Number(run.batches)).toBeGreaterThanOrEqual(5);
    expect(Number(run.batches)).toBeLessThan(24);
    const resumed = await backfillSqlite(f, { batchSize: 25 });
    expect(resumed).toMatchObject({ resumed: true, status: 'completed' });
    expect(snapshots(f)).toEqual(snapshots(reference));
    const rejects = (p: string): Row[] => query(p, 'SELECT session_id, reason, detail FROM backfill_rejects ORDER BY session_id');
    expect(rejects(f)).toEqual(rejects(reference));
    expect(query(f, 'SELECT rows_scanned, rows_filled, rows_rejected FROM backfill_runs')).toEqual(
      query(reference, 'SELECT rows_scanned, rows_filled, rows_rejected FROM backfill_runs'));
  });

  it('a file made before the shape counters gets them on its next real run', async () => {
    const f = fixtureFile(120);
    const db = new Database(f);
    db.exec('ALTER TABLE backfill_runs DROP COLUMN rows_multi_ip; ALTER TABLE backfill_runs DROP COLUMN enrichment_at_from_session');
    db.close();
    const dry = await backfillSqlite(f, { dryRun: true }); // read-only: needs neither
    const s = await backfillSqlite(f, { batchSize: 50 });
    expect(s.rows).toEqual(dry.rows);
    expect(s.rows.multiIp).toBeGreaterThan(0);
    expect(s.sources.enrichment_at.session).toBeGreaterThan(0);
    expect(query(f, 'SELECT rows_scanned, rows_multi_ip, enrichment_at_from_session FROM backfill_runs')).toEqual([
      { rows_scanned: s.rows.scanned, rows_multi_ip: s.rows.multiIp, enrichment_at_from_session: s.sources.enrichment_at.session }]);
  });

  it('says clearly what it cannot do, and names the snapshot_ip_types rename', async () => {
    await expectCliError(backfillSqlite(join(dir, 'missing.sqlite')), ExitCode.couldNotRun, /no such file/);
    const junk = join(dir, 'junk.sqlite');
    writeFileSync(junk, 'this is not a database, just text that is long enough to have a header'.repeat(20));
    await expectCliError(backfillSqlite(junk), ExitCode.couldNotRun, /cannot open.*not a database/);
    const empty = newFile();
    new Database(empty).close();
    await expectCliError(backfillSqlite(empty), ExitCode.critical, /missing table session_summaries/);
    openSqlite(empty, { create: true }).close();
    await expect(backfillSqlite(empty)).resolves.toMatchObject({ status: 'completed', rows: { scanned: 0 } });
    // the upstream drift: snapshot_ip_types instead of snapshot_ip_type
    const drifted = fixtureFile(10);
    const db = new Database(drifted);
    db.exec('ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_type TO snapshot_ip_types');
    db.close();
    await expectCliError(backfillSqlite(drifted), ExitCode.critical,
      /missing session_summaries\.snapshot_ip_type \(the file has the drifted snapshot_ip_types: rename it with `ALTER TABLE session_summaries RENAME COLUMN snapshot_ip_types TO snapshot_ip_type`\)/);
    const pgOnly = sqliteUnsupported('rollback backfill (undo)', empty);
    expect(pgOnly.exitCode).toBe(64);
    expect(pgOnly.message).toMatch(/rollback backfill \(undo\) is PostgreSQL-only and not available for sqlite:/);
  });
});

describe('the CLI on a sqlite: target', () => {
  it('a PostgreSQL-only command exits 64 with a clear message', async () => {
    const f = newFile();
    openSqlite(f, { create: true }).close();
    for (const args of [['migrate'], ['test']]) {
      const r = await runCli([...args, '--db', `sqlite:${f}`]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64);
      expect(r.stderr).toMatch(/sqlite|SQLite/);
      expect(r.stderr).toMatch(/PostgreSQL/);
    }
  });

  it('seed, then backfill --db sqlite: end to end through the CLI; bad flags and undo are refused', async () => {
    const f = newFile();
    const seed = await runCli(['seed', '--db', `sqlite:${f}`, '--sessions', '200', '--json']);
    expect(seed.code, seed.stderr).toBe(0);
    expect(JSON.parse(seed.stdout)).toMatchObject({ database: `sqlite:${f}`, sessions: 200, fixture: true, tables: { session_summaries: 200 } });
    const bad = await runCli(['backfill', '--db', `sqlite:${f}`, '--batch-size', '0']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--batch-size/);
    const candidates = snapshots(f).filter((s) => Object.values(s).includes(null)).length;
    const r = await runCli(['backfill', '--db', `sqlite:${f}`, '--batch-size', '30', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ engine: 'sqlite', status: 'completed', batches: Math.ceil(candidates / 30), rows: { scanned: candidates } });
    expect(query(f, `SELECT status FROM backfill_runs`)).toEqual([{ status: 'completed' }]);
    expect(count(f, `SELECT count(*) AS n FROM session_summaries WHERE snapshot_country IS NOT NULL`)).toBeGreaterThan(150);
    const undo = await runCli(['rollback', 'backfill', '--run', '1', '--db', `sqlite:${f}`]);
    expect(undo.code).toBe(64);
    expect(undo.stderr).toMatch(/PostgreSQL/);
  });
});

// ---------------------------------------------------------------------------
// Parity with the PostgreSQL engine.

for (const server of testServers()) {
  describe(`parity with PostgreSQL ${server.version}`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await freshDatabase(server);
    });
    afterAll(async () => {
      await t?.drop();
    });

    it('the parsers give what backfill_parse_* and backfill_spur_ip_type give; the IP and time parsers refuse only what they document', async () => {
      const ips = ['1.2.3.4', ' 10.0.0.1 ', '1.2.3', '1.2.3.4.5', '256.1.1.1', '999.1.2.3', 'not-an-ip', '', '1.2.3.0/24', 'fe80::1%eth0',
        '::', '::1', '::2', '::1:2', '::ffff:1.2.3.4', '::FFFF:203.0.113.10', '::1.2.3.4', '::ffff:0:0', '::ffff', '::ffff:1:2', '0:0:0:0:0:ffff:102:304',
        '2001:DB8::1', '2001:db8:0:0:1:0:0:1', '2001:0db8:0000:0000:0000:0000:0000:0001', '1:0:0:2:0:0:0:3', '1::2::3', '12345::1', ':1', '1:',
        '::ffff:01.2.3.4', '1.2.3.4:80', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789', '0:0:0:0:0:0:0:1', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7::',
        'ABC', '1..2.3', '127.0.0.1', '2001:db8::1/64', '1.2.3.4/33', '10/8', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', ' 2001:DB8::A \t',
        '2001:db8::0:1', 'fe80::1:0:0:1', '2a01:4f8:0:0:1::'];
      // PostgreSQL's inet reads these too; the SQLite path refuses them (docs/sqlite.md)
      const ipsRefused = ['1.2.3.04', '001.002.003.004', '1.2.3.4/32', '1.2.3.4/032', '::ffff:1.2.3.4/128', '2001:db8::1/128', '::1.2.3.4/128'];
      const asns = ['4134', 'AS4134', 'as 4134', ' AS4134 ', 'AS  4134', '0', '-5', '4134.0', 'AS', 'n/a', '2147483647', '2147483648', '00042',
        '99999999999', '', 'As\t7', 'AS-5', '+5', '0000000042', '00000000042', 'ASAS1', '1e3', '٣'];
      const countries = ['CN', 'cn', ' de ', 'CHN', 'C', '12', 'XX', 'Ch1na', '', 'u s'];
      const types = ['"DATACENTER"', '" datacenter "', '["MOBILE","DESKTOP"]', '[1, " ", "vpn"]', '[]', '""', 'null', '5', 'true', '{"a":1}', '[null]',
        '["MOBILE","VPN"]', '["DESKTOP","MOBILE"]', '["DESKTOP","LAPTOP"]', '["residential"," tor ","proxy","tor"]', '["tor","VPN"]', '["x","datacenter","mobile"]'];
      const spurs = ['["1","a","","DATACENTER"]', '["1","a","",""]', '["1","a",""]', '["1","a","",5]', '["1","a",""," mobile "]', '[]', 'null', '"VPN"', '5',
        '{"client":{"types":["MOBILE","PROXY"]},"infrastructure":"DATACENTER"}', '{"client":{"types":[]},"infrastructure":" datacenter "}',
        '{"client":"x","infrastructure":"MOBILE"}', '{"client":{"types":"vpn"}}', '{"client":null,"infrastructure":5}', '{"client":[{"types":"VPN"}]}', '{}'];
      const times = ['2025-05-01T10:00:00Z', '2025-05-01 10:00:00.123+02', '2025-05-01', '1746093600', '1746093600.5', '1746093600.123456',
        'yesterday', '2025-13-45', '2025-02-30', '2024-02-29T23:59:59.999999Z', '', 'now', '2025-05-01T10:00:00+05:30', '2025-05-01T10:00:00-0800',
        '2025-05-01T10:00', '0000-01-01', '2025-05-01T10:00:00+16:00', '12345678', '2025-05-01+02', '2025-05-01Z', '2025-05-01T10:00:00.5-03',
        '123456789', '2025-05-01T10:60', '1900-02-29', '2000-02-29 12:00:00+15:59', '2025-05-01 10:00 XYZ', '2025-06-01T01:00:00.5Z',
        '2025-05-01T10:00:00.123456+00:00', '2025-05-01 10:00:00.123456', '2025-05-01T25:00:00', '2025-05-01T10:00:00+05:60', '2025-5-1', '1746093600.1234567'];
      const timesRefused = ['2025-05-01 10:00 UTC', '2025-05-01T24:00:00', '2025-05-01 10:00:00.1234567', '2025-05-01T10:00:00z',
        '2025-05-01T10:00:00 +02:00', '2025-05-01 10:00:00 GMT', '1746093600.', '2025-05-01 1:00', '2025-05-01 +02',
        '2025-05-01T10:00:60', '2025-05-01T23:59:60', '2025-12-31 24:00:00', '2025-05-01 12:00 Europe/Paris'];
      const [pg] = await t.sql`
        SELECT (SELECT json_agg(backfill_parse_ip(x) ORDER BY i) FROM unnest(${[...ips, ...ipsRefused]}::text[]) WITH ORDINALITY u(x, i)) AS ips,
               (SELECT json_agg(backfill_parse_asn(x) ORDER BY i) FROM unnest(${asns}::text[]) WITH ORDINALITY u(x, i)) AS asns,
               (SELECT json_agg(backfill_parse_country(x) ORDER BY i) FROM unnest(${countries}::text[]) WITH ORDINALITY u(x, i)) AS countries,
               (SELECT json_agg(backfill_parse_ip_type(x::json) ORDER BY i) FROM unnest(${types}::text[]) WITH ORDINALITY u(x, i)) AS types,
               (SELECT json_agg(backfill_spur_ip_type(x::json) ORDER BY i) FROM unnest(${spurs}::text[]) WITH ORDINALITY u(x, i)) AS spurs,
               (SELECT json_agg(to_char(backfill_parse_timestamptz(x) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ORDER BY i)
                  FROM unnest(${[...times, ...timesRefused]}::text[]) WITH ORDINALITY u(x, i)) AS times`;
      const p = pg as Record<string, unknown[]>;
      const same = <T>(xs: string[], f: (x: string) => T, theirs: unknown[]): void => {
        expect(Object.fromEntries(xs.map((x) => [x, f(x)]))).toEqual(Object.fromEntries(xs.map((x, i) => [x, theirs[i]])));
      };
      same(ips, parseIp, p.ips!);
      same(asns, parseAsn, p.asns!);
      same(countries, parseCountry, p.countries!);
      same(types, parseIpType, p.types!);
      expect(parseIpType('["MOBILE","VPN"]')).toBe('VPN'); // the preference, not the first element
      same(spurs, spurIpType, p.spurs!);
      same(times, parseTimestamp, p.times!);
      expect(ips.map(parseIp).filter((v) => v !== null).length).toBeGreaterThan(20);
      expect(times.map(parseTimestamp).filter((v) => v !== null).length).toBeGreaterThan(15);
      const refused = (xs: string[], f: (x: string) => string | null, theirs: unknown[]): void => {
        expect(Object.fromEntries(xs.map((x, i) => [x, [f(x), theirs[i] !== null]]))).toEqual(Object.fromEntries(xs.map((x) => [x, [null, true]])));
      };
      refused(ipsRefused, parseIp, p.ips!.slice(ips.length));
      refused(timesRefused, parseTimestamp, p.times!.slice(times.length));
    });

    it('the backfill fills the same values, counts the same sources and rejects the same rows as backfill_snapshot_source, both shapes', async () => {
      const f = fixtureFile();
      const fixture = readFixture();
      // The same rows in PostgreSQL (the malformed-JSON session cannot exist there: its json type refuses it).
      const all = fixture.session_summaries;
      const nul = all.filter((r) => String(r.enrichment).includes('\\u0000'));
      const sessions = all.filter((r) => r.enrichment === null || isJson(String(r.enrichment)));
      await t.sql`INSERT INTO asn_inventory (asn_number, organization_name, organization_country, rir_registry, asn_type, first_seen, last_seen)
        SELECT * FROM json_to_recordset(${t.sql.json(fixture.asn_inventory as never)}::json)
          AS x(asn_number int, organization_name text, organization_country text, rir_registry text, asn_type text, first_seen timestamptz, last_seen timestamptz)`;
      await t.sql`INSERT INTO ip_inventory (ip_address, current_asn, first_seen, last_seen, session_count, enrichment, enrichment_updated_at, ip_types)
        SELECT ip_address, current_asn, first_seen, last_seen, session_count, enrichment::jsonb, enrichment_updated_at,
               ARRAY(SELECT json_array_elements_text(coalesce(ip_types, '[]')::json))
        FROM json_to_recordset(${t.sql.json(fixture.ip_inventory as never)}::json)
          AS x(ip_address text, current_asn int, first_seen timestamptz, last_seen timestamptz, session_count int, enrichment text,
               enrichment_updated_at timestamptz, ip_types text)`;
      await t.sql`INSERT INTO ip_asn_history SELECT * FROM json_to_recordset(${t.sql.json(fixture.ip_asn_history as never)}::json)
          AS x(ip_address text, asn_number int, observed_at timestamptz)`;
      await t.sql`INSERT INTO session_summaries (session_id, first_event_at, last_event_at, created_at, enrichment, source_ip, snapshot_asn,
          snapshot_country, snapshot_ip_type, enrichment_at)
        SELECT session_id, first_event_at, last_event_at, created_at, enrichment::json, source_ip, snapshot_asn, snapshot_country,
               snapshot_ip_type, enrichment_at
        FROM json_to_recordset(${t.sql.json(sessions as never)}::json)
          AS x(session_id text, first_event_at timestamptz, last_event_at timestamptz, created_at timestamptz, enrichment text, source_ip text,
               snapshot_asn int, snapshot_country text, snapshot_ip_type text, enrichment_at timestamptz)`;
      // The geolocation both engines read: the same generated column.
      const geo = await t.sql`SELECT ip_address, geo_country::text FROM ip_inventory ORDER BY 1`;
      expect(geo.map((r) => [r.ip_address, r.geo_country])).toEqual(query(f, `SELECT ip_address, geo_country FROM ip_inventory ORDER BY 1`)
        .map((r) => [r.ip_address, r.geo_country]));

      // What PostgreSQL's snapshot rule says each session ends up as (fill only NULL, rejects untouched), and the source of each fill.
      const expected = await t.sql`
        SELECT s.session_id, src.reject_reason AS reason, src.reject_detail AS detail, src.ip_keys,
               CASE WHEN src.reject_reason IS NULL THEN coalesce(s.source_ip, src.new_source_ip) ELSE s.source_ip END AS source_ip,
               CASE WHEN src.reject_reason IS NULL THEN coalesce(s.snapshot_asn, src.new_snapshot_asn) ELSE s.snapshot_asn END AS snapshot_asn,
               CASE WHEN src.reject_reason IS NULL THEN coalesce(s.snapshot_country, src.new_snapshot_country) ELSE s.snapshot_country END::text AS snapshot_country,
               CASE WHEN src.reject_reason IS NULL THEN coalesce(s.snapshot_ip_type, src.new_snapshot_ip_type) ELSE s.snapshot_ip_type END AS snapshot_ip_type,
               to_char(CASE WHEN src.reject_reason IS NULL THEN coalesce(s.enrichment_at, src.new_enrichment_at) ELSE s.enrichment_at END
                       AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS enrichment_at,
               CASE WHEN src.reject_reason IS NULL AND s.snapshot_asn IS NULL THEN src.asn_source END AS f_asn,
               CASE WHEN src.reject_reason IS NULL AND s.snapshot_country IS NULL THEN src.country_source END AS f_country,
               CASE WHEN src.reject_reason IS NULL AND s.snapshot_ip_type IS NULL THEN src.ip_type_source END AS f_ip_type,
               CASE WHEN src.reject_reason IS NULL AND s.enrichment_at IS NULL THEN src.enrichment_at_source END AS f_at
        FROM session_summaries s
        CROSS JOIN LATERAL backfill_snapshot_source(s.enrichment, s.first_event_at, s.created_at) src
        WHERE s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL
        ORDER BY s.session_id`;
      expect(expected.length).toBeGreaterThan(590);

      const summary = await backfillSqlite(f, { batchSize: 64 });
      const rejects = new Map(query(f, 'SELECT session_id, reason, detail FROM backfill_rejects').map((r) => [r.session_id, r]));
      const got = new Map(snapshots(f).map((r) => [r.session_id, r]));
      const mismatches: unknown[] = [];
      for (const e of expected) {
        const g = got.get(e.session_id)!;
        const rj = rejects.get(e.session_id);
        const mine = { reason: rj?.reason ?? null, detail: rj?.detail ?? null, source_ip: g.source_ip, snapshot_asn: g.snapshot_asn,
          snapshot_country: g.snapshot_country, snapshot_ip_type: g.snapshot_ip_type, enrichment_at: g.enrichment_at };
        const theirs = { reason: e.reason, detail: e.detail, source_ip: e.source_ip, snapshot_asn: e.snapshot_asn,
          snapshot_country: e.snapshot_country, snapshot_ip_type: e.snapshot_ip_type, enrichment_at: e.enrichment_at };
        if (JSON.stringify(mine) !== JSON.stringify(theirs)) mismatches.push({ session_id: e.session_id, sqlite: mine, postgresql: theirs });
      }
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(mismatches).toHaveLength(0);
      expect(summary.rows.scanned).toBe(expected.length + (all.length - sessions.length));
      expect(nul.length).toBe(2);
      for (const r of nul) expect(rejects.get(r.session_id)).toMatchObject({ reason: 'row_error', detail: expect.stringMatching(/^22P05: unsupported Unicode escape/) });

      // The sources of the filled values, counted as PostgreSQL's run counts them.
      const sourced = (col: string, source: string): number => expected.filter((e) => e[col] === source).length;
      expect(summary.sources).toEqual({
        snapshot_asn: { json: sourced('f_asn', 'json'), history: sourced('f_asn', 'history'), inventory: sourced('f_asn', 'inventory') },
        snapshot_country: { json: sourced('f_country', 'json'), inventory: sourced('f_country', 'inventory'), default: sourced('f_country', 'default') },
        snapshot_ip_type: { json: sourced('f_ip_type', 'json'), inventory: sourced('f_ip_type', 'inventory') },
        enrichment_at: { json: sourced('f_at', 'json'), session: sourced('f_at', 'session'), inventory: sourced('f_at', 'inventory') },
      });
      const multiIp = expected.filter((e) => Number(e.ip_keys) > 1).length;
      expect(summary.rows.multiIp).toBe(multiIp);
      expect(query(f, 'SELECT rows_multi_ip, enrichment_at_from_session FROM backfill_runs WHERE run_id = ?', summary.runId)[0])
        .toEqual({ rows_multi_ip: multiIp, enrichment_at_from_session: sourced('f_at', 'session') });

      // The fixture exercises the loader shape: most sessions in it, every source reached, each reason seen.
      expect(expected.filter((e) => e.ip_keys !== null).length).toBeGreaterThan(350);
      expect(multiIp).toBeGreaterThan(30);
      for (const [col, sources] of Object.entries(summary.sources)) {
        for (const [source, n] of Object.entries(sources)) expect(n, `${col} from ${source}`).toBeGreaterThan(0);
      }
      expect(new Set(expected.map((e) => e.reason))).toEqual(new Set([null, ...REJECT_REASONS]));
    });
  });
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
