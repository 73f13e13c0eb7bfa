// The SQLite path end to end (src/sqlite): seed, dry run, batched backfill with
// resume, fill-only-NULL, rejects, a kill -9 in the middle, the errors; and parity
// with the PostgreSQL engine: the parsers and the snapshot rule give the same
// results as backfill_parse_* and backfill_snapshot_source on the same data.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/db/sqlfiles.js';
import { CliError, ExitCode } from '../src/errors.js';
import { backfillSqlite, createSqliteSchema, DIRTY_CASES, REJECT_REASONS, seedSqlite, sqliteUnsupported } from '../src/sqlite/index.js';
import { parseAsn, parseCountry, parseIp, parseIpType, parseTimestamp, spurIpType } from '../src/sqlite/parse.js';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'cowrie-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const newFile = (): string => join(dir, `t${fileNo++}.sqlite`);
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

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

describe('seedSqlite', () => {
  it('is deterministic, carries every dirty case, and refuses to seed twice without reset', async () => {
    const a = newFile();
    const b = newFile();
    const s = seedSqlite(a, 300, 7);
    seedSqlite(b, 300, 7);
    expect(s.tables.session_summaries).toBe(300);
    expect(s.forcedDirtyCases).toBe(DIRTY_CASES.length);
    expect(s.tables.ip_inventory).toBe(s.ips - 1); // one IP is absent from the inventory on purpose
    const dump = (p: string): string => JSON.stringify(['session_summaries', 'ip_inventory', 'asn_inventory', 'ip_asn_history']
      .map((t) => query(p, `SELECT * FROM ${t} ORDER BY 1, 2, 3`)));
    expect(dump(a)).toBe(dump(b));
    const c = newFile();
    seedSqlite(c, 300, 8);
    expect(dump(c)).not.toBe(dump(a));
    await expectCliError(() => seedSqlite(a, 300, 7), ExitCode.error, /already has data.*--reset/);
    seedSqlite(a, 100, 9, { reset: true });
    expect(query(a, 'SELECT count(*) AS n FROM session_summaries')[0]!.n).toBe(100);
    await expectCliError(() => seedSqlite(newFile(), 0, 1), ExitCode.usage, /--sessions: must be an integer from 1/);
  });
});

describe('backfillSqlite', () => {
  const file = newFile();
  let before: Row[];

  beforeAll(() => {
    seedSqlite(file, 600, 42);
    before = snapshots(file);
  });

  it('dry run: counts what would change and writes nothing at all', async () => {
    const hash = sha(file);
    const d = await backfillSqlite(file, { dryRun: true, batchSize: 50 });
    expect(sha(file)).toBe(hash);
    expect(existsSync(`${file}-journal`) || existsSync(`${file}-wal`)).toBe(false);
    expect(d).toMatchObject({ dryRun: true, runId: null, status: 'completed' });
    expect(d.rows.scanned).toBe(d.candidatesAtStart);
    expect(d.rows.scanned).toBe(d.rows.filled + d.rows.unchanged + d.rows.rejected);
    expect(d.batches).toBe(Math.ceil(d.rows.scanned / 50));
    expect(d.sample.length).toBe(20);
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
    // the checkpoint is exact: every candidate up to last_key was handled, none after it
    const after = query(file, `SELECT count(*) AS n FROM session_summaries WHERE session_id > ? AND snapshot_country IS NOT NULL
      AND session_id NOT IN (${before.filter((r) => r.snapshot_country !== null).map((r) => `'${String(r.session_id)}'`).join(',') || "''"})`, first.lastKey);
    expect(after[0]!.n).toBe(0);

    const second = await backfillSqlite(file, { batchSize: 37 });
    expect(second).toMatchObject({ runId: first.runId, resumed: true, status: 'completed', stoppedBy: 'done' });
    expect(second.run.rows).toEqual(dry.rows);
    expect(second.run.batches).toBe(Math.ceil(dry.rows.scanned / 37));
    expect(query(file, 'SELECT status, finished_at IS NOT NULL AS f FROM backfill_runs WHERE run_id = ?', first.runId)[0]).toEqual({ status: 'completed', f: 1 });

    const rejects = query(file, 'SELECT reason, count(*) AS n FROM backfill_rejects WHERE run_id = ? GROUP BY reason', first.runId);
    expect(Object.fromEntries(rejects.map((r) => [r.reason, r.n]))).toEqual(dry.rejects);
    expect(new Set(rejects.map((r) => r.reason))).toEqual(new Set(REJECT_REASONS)); // every reason, incl. row_error
  });

  it('fills only NULLs, never writes a rejected row, and follows the source precedence', () => {
    const now = new Map(snapshots(file).map((r) => [r.session_id, r]));
    const cols = ['source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at'];
    // a value someone wrote before is never overwritten
    for (const b of before) for (const c of cols) if (b[c] !== null) expect(now.get(b.session_id)![c], `${String(b.session_id)}.${c}`).toBe(b[c]);
    const other = before.find((r) => r.snapshot_country !== null && r.source_ip === null)!; // 'someone wrote another country'
    expect(now.get(other.session_id)).toMatchObject({ snapshot_country: other.snapshot_country });
    expect(now.get(other.session_id)!.snapshot_asn).not.toBeNull();
    // rejected rows are untouched
    const rejected = query(file, `SELECT s.*, r.reason, r.detail FROM backfill_rejects r JOIN session_summaries s USING (session_id)`);
    for (const r of rejected) for (const c of cols) expect(r[c]).toBe(before.find((b) => b.session_id === r.session_id)![c]);
    const detail = Object.fromEntries(rejected.map((r) => [`${String(r.reason)}:${String(r.detail)}`, true]));
    for (const d of ['bad_ip:not-an-ip', 'bad_ip:999.1.2.3', 'bad_asn:n/a', 'bad_country:CHN', 'bad_enriched_at:yesterday', 'no_enrichment:{}', 'no_enrichment:null']) {
      expect(detail[d], d).toBe(true);
    }
    // sessions whose IP has no inventory row: source_ip stays NULL, the rest is filled
    const noInv = query(file, `SELECT s.* FROM (SELECT *, CASE WHEN json_valid(enrichment) THEN enrichment END AS e FROM session_summaries) s WHERE s.source_ip IS NULL AND s.snapshot_country IS NOT NULL
      AND json_extract(s.e, '$.dshield.ip.number') NOT IN (SELECT ip_address FROM ip_inventory)`);
    expect(noInv.length).toBeGreaterThan(0);
    for (const r of noInv) expect(r.snapshot_asn).not.toBeNull();
    // IPv6 written in upper case in the JSON is stored in the inventory's canonical form
    const v6 = query(file, `SELECT source_ip FROM (SELECT *, CASE WHEN json_valid(enrichment) THEN enrichment END AS e FROM session_summaries) s WHERE json_extract(s.e, '$.dshield.ip.number') GLOB '*[A-F]*:*'`);
    expect(v6.length).toBeGreaterThan(0);
    for (const r of v6) expect(r.source_ip).toBe(String(r.source_ip).toLowerCase());
    // ASN: JSON null -> ip_asn_history as of first_event_at, which differs from the current ASN
    const hist = query(file, `SELECT s.snapshot_asn, i.current_asn,
        (SELECT h.asn_number FROM ip_asn_history h WHERE h.ip_address = s.source_ip AND h.observed_at <= s.first_event_at
          ORDER BY h.observed_at DESC LIMIT 1) AS asof
      FROM (SELECT *, CASE WHEN json_valid(enrichment) THEN enrichment END AS e FROM session_summaries) s JOIN ip_inventory i ON i.ip_address = s.source_ip
      WHERE json_type(s.e, '$.cymru.asn') = 'null'`);
    expect(hist.length).toBeGreaterThan(0);
    for (const r of hist) expect(r.snapshot_asn).toBe(r.asof);
    expect(hist.some((r) => r.snapshot_asn !== r.current_asn)).toBe(true);
    // country: lower case normalised; none in the JSON -> ip_inventory.geo_country
    expect(query(file, `SELECT count(*) AS n FROM session_summaries WHERE snapshot_country <> upper(snapshot_country)`)[0]!.n).toBe(0);
    const invCountry = query(file, `SELECT s.snapshot_country, i.geo_country FROM (SELECT *, CASE WHEN json_valid(enrichment) THEN enrichment END AS e FROM session_summaries) s JOIN ip_inventory i ON i.ip_address = s.source_ip
      WHERE json_extract(s.e, '$.maxmind.country') IS NULL AND json_extract(s.e, '$.cymru.country') IS NULL
        AND json_extract(s.e, '$.dshield.ip.ascountry') IS NULL AND s.snapshot_country IS NOT NULL`);
    expect(invCountry.length).toBeGreaterThan(0);
    for (const r of invCountry) expect(r.snapshot_country).toBe(r.geo_country);
  });

  it('a second run changes nothing', async () => {
    const hashRows = JSON.stringify(snapshots(file));
    const again = await backfillSqlite(file, { batchSize: 100 });
    expect(again).toMatchObject({ status: 'completed', resumed: false });
    expect(again.rows.filled).toBe(0);
    expect(JSON.stringify(snapshots(file))).toBe(hashRows);
  });

  it('stops between batches on an abort signal (run paused), and restart starts a new run', async () => {
    const f = newFile();
    seedSqlite(f, 200, 3);
    const ac = new AbortController();
    const s = await backfillSqlite(f, { batchSize: 20, signal: ac.signal, onBatch: (p) => { if (p.batches === 2) ac.abort(); } });
    expect(s).toMatchObject({ status: 'paused', stoppedBy: 'signal', batches: 2 });
    const r = await backfillSqlite(f, { batchSize: 20, restart: true });
    expect(r.runId).not.toBe(s.runId);
    expect(r).toMatchObject({ resumed: false, status: 'completed' });
    expect(query(f, 'SELECT run_id, status FROM backfill_runs ORDER BY run_id')).toEqual([
      { run_id: s.runId, status: 'abandoned' }, { run_id: r.runId, status: 'completed' }]);
  });

  it('kill -9 in the middle of a run loses at most the batch in flight; resuming gives the same table as an uninterrupted run', async () => {
    const f = newFile();
    seedSqlite(f, 800, 11);
    const reference = newFile();
    copyFileSync(f, reference);
    await backfillSqlite(reference, { batchSize: 25 });

    const dist = join(packageRoot, 'dist', 'sqlite', 'index.js');
    expect(existsSync(dist), 'npm test builds dist/ first').toBe(true);
    const script = join(dir, 'run.mjs');
    writeFileSync(script, `import { backfillSqlite } from ${JSON.stringify(dist)};
      await backfillSqlite(process.argv[2], { batchSize: 25, pauseMs: 40, onBatch: (p) => console.log(p.batches) });`);
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
    expect(Number(run.batches)).toBeLessThan(32);
    const resumed = await backfillSqlite(f, { batchSize: 25 });
    expect(resumed).toMatchObject({ resumed: true, status: 'completed' });
    expect(snapshots(f)).toEqual(snapshots(reference));
    const rejects = (p: string): Row[] => query(p, 'SELECT session_id, reason, detail FROM backfill_rejects ORDER BY session_id');
    expect(rejects(f)).toEqual(rejects(reference));
    expect(query(f, 'SELECT rows_scanned, rows_filled, rows_rejected FROM backfill_runs')).toEqual(
      query(reference, 'SELECT rows_scanned, rows_filled, rows_rejected FROM backfill_runs'));
  });

  it('a file made before the shape counters gets them on its next real run', async () => {
    const f = newFile();
    seedSqlite(f, 120, 4);
    const db = new Database(f);
    db.exec('ALTER TABLE backfill_runs DROP COLUMN rows_multi_ip; ALTER TABLE backfill_runs DROP COLUMN enrichment_at_from_session');
    db.close();
    const dry = await backfillSqlite(f, { dryRun: true }); // read-only: needs neither
    const s = await backfillSqlite(f, { batchSize: 50 });
    expect(s.rows).toEqual(dry.rows);
    expect(s.sources.enrichment_at.session).toBeGreaterThan(0); // seeded sessions without a usable enriched_at
    expect(query(f, 'SELECT rows_scanned, rows_multi_ip, enrichment_at_from_session FROM backfill_runs')).toEqual([
      { rows_scanned: s.rows.scanned, rows_multi_ip: 0, enrichment_at_from_session: s.sources.enrichment_at.session }]);
    expect(s.run.enrichmentAtFromSession).toBe(s.sources.enrichment_at.session);
  });

  it('says clearly what it cannot do', async () => {
    await expectCliError(backfillSqlite(join(dir, 'missing.sqlite')), ExitCode.couldNotRun, /no such file/);
    const junk = join(dir, 'junk.sqlite');
    writeFileSync(junk, 'this is not a database, just text that is long enough to have a header'.repeat(20));
    await expectCliError(backfillSqlite(junk), ExitCode.couldNotRun, /cannot open.*not a database/);
    const empty = newFile();
    new Database(empty).close();
    await expectCliError(backfillSqlite(empty), ExitCode.critical, /missing table session_summaries/);
    createSqliteSchema(empty);
    await expect(backfillSqlite(empty)).resolves.toMatchObject({ status: 'completed', rows: { scanned: 0 } });
    await expectCliError(backfillSqlite(empty, { batchSize: 0 }), ExitCode.usage, /--batch-size: must be an integer from 1 to 1000000/);
    await expectCliError(backfillSqlite(empty, { maxBatches: -1 }), ExitCode.usage, /--max-batches/);
    const pgOnly = sqliteUnsupported('rollback backfill (undo)', empty);
    expect(pgOnly.exitCode).toBe(64);
    expect(pgOnly.message).toMatch(/rollback backfill \(undo\) is PostgreSQL-only and not available for sqlite:/);
  });
});

describe('the CLI on a sqlite: target', () => {
  it('a PostgreSQL-only command exits 64 with a clear message', async () => {
    const f = newFile();
    createSqliteSchema(f);
    for (const args of [['migrate'], ['test']]) {
      const r = await runCli([...args, '--db', `sqlite:${f}`]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64);
      expect(r.stderr).toMatch(/sqlite|SQLite/);
      expect(r.stderr).toMatch(/PostgreSQL/);
    }
  });

  it('backfill --db sqlite: end to end through the CLI; undo is PostgreSQL-only', async () => {
    const f = newFile();
    seedSqlite(f, 200, 5);
    const r = await runCli(['backfill', '--db', `sqlite:${f}`, '--batch-size', '30', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(query(f, `SELECT status FROM backfill_runs`)).toEqual([{ status: 'completed' }]);
    expect(query(f, `SELECT count(*) AS n FROM session_summaries WHERE snapshot_country IS NOT NULL`)[0]!.n).toBeGreaterThan(150);
    const undo = await runCli(['rollback', 'backfill', '--run', '1', '--db', `sqlite:${f}`]);
    expect(undo.code).toBe(64);
    expect(undo.stderr).toMatch(/PostgreSQL/);
  });
});

// ---------------------------------------------------------------------------
// Parity with the PostgreSQL engine.

/** The loader's 18-string spur list: [0] the ASN, [3] the infrastructure. */
const spur18 = (asn: string, type: string): string[] => [asn, 'ORG', '', type, ...Array<string>(14).fill('')];
type J = Record<string, any>;

/**
 * A seeded session's flat enrichment rewritten in the upstream loader's shape, by n % 8:
 * 0-1 flat as seeded; 2 spur list, ASN in dshield.ip.as; 3 spur list, ASN in spur[0], the
 * flat enriched_at at the top level; 4 spur object, asn {"number"} and dshield.ip.asnumber,
 * maxmind in the capture; 5 spur object, asn 'AS…' and infrastructure, cymru in the capture;
 * 6 the skip-enrich payload; 7 as 2 with a second IP, before or after the session's own.
 * The seed's dirty values (bad IPs, 'n/a', 'CHN', ...) carry over into the new shape.
 */
function toLoaderShape(flat: J, n: number, otherIp: string): J {
  const ip = flat.dshield?.ip as J | undefined;
  if (typeof ip?.number !== 'string' || n % 8 < 2) return flat;
  const asn: unknown = flat.cymru?.asn ?? null;
  const types: unknown = flat.spur?.client?.types;
  const type = String((Array.isArray(types) ? types.find((x) => typeof x === 'string') : types) ?? '');
  const ds = { ip: { number: ip.number, asname: 'ORG', ascountry: ip.ascountry ?? '' } };
  let cap: J;
  switch (n % 8) {
    case 3: cap = { dshield: ds, urlhaus: '', spur: spur18(asn === null ? '' : String(asn), type) }; break;
    case 4: cap = { dshield: { ip: { ...ds.ip, asnumber: asn } }, spur: { asn: { number: asn }, client: { types } }, maxmind: flat.maxmind }; break;
    case 5: cap = { spur: { asn: typeof asn === 'number' ? `AS${asn}` : asn, infrastructure: type }, cymru: flat.cymru }; break;
    case 6: cap = { dshield: { ip: { asname: '', ascountry: '' } }, urlhaus: '', spur: spur18('', '') }; break;
    default: cap = { dshield: { ip: { ...ds.ip, as: asn } }, urlhaus: '', spur: spur18('', type) };
  }
  const session = n % 8 !== 7 ? { [ip.number]: cap } : n % 16 === 7 ? { [otherIp]: {}, [ip.number]: cap } : { [ip.number]: cap, [otherIp]: {} };
  return { session, virustotal: {}, ...(n % 8 === 3 ? { enriched_at: flat.enriched_at } : {}) };
}

/**
 * The shared fixture of the parity test, as a SQLite file: 1,500 seeded sessions (three
 * quarters rewritten in the loader shape), inventory rows without ip_types (a sixth with
 * the SPUR list in their enrichment), four hand-made inventory IPs and hand-made
 * sessions for every source and precedence step of both shapes.
 */
function parityFixture(): string {
  const f = newFile();
  seedSqlite(f, 1500, 2024);
  const db = new Database(f);
  try {
    const ipRows = db.prepare(`SELECT ip_address, current_asn, enrichment, ip_types FROM ip_inventory ORDER BY ip_address`).all() as Row[];
    const setInv = db.prepare(`UPDATE ip_inventory SET ip_types = NULL, enrichment = ? WHERE ip_address = ?`);
    ipRows.forEach((r, i) => {
      if (i % 3 !== 0) return;
      const e = JSON.parse(String(r.enrichment)) as J;
      const types = JSON.parse(String(r.ip_types ?? '[]')) as string[];
      if (i % 6 === 0) e.spur = spur18(String(r.current_asn ?? ''), types[types.length - 1] ?? '');
      setInv.run(JSON.stringify(e), r.ip_address);
    });
    const setSession = db.prepare(`UPDATE session_summaries SET enrichment = ? WHERE session_id = ?`);
    (db.prepare(`SELECT session_id, enrichment FROM session_summaries WHERE json_valid(enrichment) ORDER BY session_id`).all() as Row[])
      .forEach((r, n) => {
        const flat = JSON.parse(String(r.enrichment)) as unknown;
        if (typeof flat === 'object' && flat !== null && !Array.isArray(flat)) {
          setSession.run(JSON.stringify(toLoaderShape(flat as J, n, String(ipRows[(n * 7) % ipRows.length]!.ip_address))), r.session_id);
        }
      });

    // Four inventory IPs: A full; B geolocation unknown (XX), SPUR list in its enrichment, an ASN
    // observation; C SPUR object with several types; D no enrichment_updated_at, several ip_types.
    const [a1, a2, a3, a4] = (db.prepare(`SELECT asn_number FROM asn_inventory ORDER BY 1 LIMIT 4`).all() as Row[]).map((r) => Number(r.asn_number));
    const [A, B, C, D, OUT] = ['203.0.113.10', '198.51.100.20', '192.0.2.30', '192.0.2.40', '198.51.100.77'];
    const inv = db.prepare(`INSERT INTO ip_inventory (ip_address, current_asn, first_seen, last_seen, enrichment, enrichment_updated_at, geo_country, ip_types)
      VALUES (?, ?, '2024-01-01T00:00:00.000000Z', '2025-11-01T00:00:00.000000Z', ?, ?, ?, ?)`);
    inv.run(A, a1, '{"maxmind": {"country": "US"}}', '2025-06-01T00:00:00.000000Z', 'US', null);
    inv.run(B, a2, JSON.stringify({ spur: spur18(String(a2), 'residential') }), '2025-07-01T00:00:00.000000Z', 'XX', '[]');
    inv.run(C, a3, '{"cymru": {"country": "de"}, "spur": {"client": {"types": ["MOBILE", "PROXY"]}}}', '2025-08-01T00:00:00.000000Z', 'DE', null);
    inv.run(D, a4, '{"maxmind": {"country": "CN"}}', null, 'CN', '["residential", "vpn"]');
    db.prepare(`INSERT INTO ip_asn_history (ip_address, asn_number, observed_at) VALUES (?, ?, '2025-01-01T00:00:00.000000Z')`).run(B, a4);

    const cap = (ip: string, o: { as?: unknown; ascountry?: string; spur0?: string; spur3?: string } = {}): J => ({
      dshield: { ip: { number: ip, as: o.as === undefined ? a1 : o.as, asname: 'ORG', ascountry: o.ascountry ?? 'US', count: '999' } },
      urlhaus: '', spur: spur18(o.spur0 ?? String(a1), o.spur3 ?? 'DATACENTER'),
    });
    const L = (key: string, c: unknown, top: J = {}): string => JSON.stringify({ session: { [key]: c }, virustotal: {}, ...top });
    const skip = (ip: string): string => L(ip, { dshield: { ip: { asname: '', ascountry: '' } }, urlhaus: '', spur: spur18('', '') });
    const withAsnumber = cap(A, { as: '' });
    withAsnumber.dshield.ip.asnumber = String(a3);
    const docs: (string | { doc: string; first?: string; created?: string | null })[] = [
      // the issue's session, verbatim
      '{"session":{"203.0.113.10":{"dshield":{"ip":{"number":"203.0.113.10","as":16509,"ascountry":"US"}},' +
        '"urlhaus":"","spur":["16509","AMAZON-02","Amazon.com","DATACENTER","","","","","","","","","","Ashburn, Virginia, US","","","",""]}},"virustotal":{}}',
      // source_ip: the key (trimmed, canonical), a blank key, bad keys, no usable session member
      L(` ${A}\t`, cap('10.9.9.9')), L('2001:DB8::0:1', {}), L('not-an-ip', cap('not-an-ip')), L('999.1.2.3', cap('x')), L('1.2.3.0/24', {}),
      JSON.stringify({ session: { '': { dshield: { ip: { number: A } } } } }), JSON.stringify({ session: { ' \t': { dshield: { ip: { number: ' ' } } } } }),
      '{"session": {}, "virustotal": {}}', '{"virustotal": {"abc": {}}}', `{"session": "${A}"}`, `{"session": ["${A}"]}`,
      `{"session": null, "dshield": {"ip": {"number": "${A}"}}}`, L(A, 'x'), JSON.stringify({ session: { [A]: null }, spur: spur18('', 'MOBILE') }),
      JSON.stringify({ session: { [A]: { dshield: null, spur: [] } }, dshield: { ip: { as: `AS${a3}`, ascountry: 'JP' } } }),
      // several IPs: the first key in document order (jsonb would put C, the shorter key, first), duplicate keys
      JSON.stringify({ session: { [A]: cap(A), [C]: {} } }), JSON.stringify({ session: { [C]: {}, [A]: cap(A) } }),
      JSON.stringify({ session: { [OUT]: {}, [A]: cap(A) } }), JSON.stringify({ session: { [A]: {}, [B]: {}, [C]: {} } }),
      `{"session": {"${A}": {}, "${A}": ${JSON.stringify(cap(A))}}}`,
      JSON.stringify({ session: { [B]: cap(B, { as: a2, ascountry: 'CN', spur0: String(a2), spur3: 'RESIDENTIAL' }), [A]: cap(A) } }),
      // ASN: dshield.ip.as -> asnumber -> spur[0] / spur.asn -> cymru -> history -> inventory, and the bad ones
      L(A, cap(A, { as: `AS${a3}`, spur0: String(a4) })), L(A, withAsnumber), L(A, cap(A, { as: null, spur0: `AS${a4}` })),
      L(A, { ...cap(A, { as: null, spur0: '' }), cymru: { asn: a3 } }), L(B, cap(B, { as: null, spur0: '' })),
      { doc: L(B, cap(B, { as: null, spur0: '' })), first: '2024-06-01T00:00:00.000000Z' },
      L(A, { spur: { asn: { number: a3, organization: 'x' } } }), L(A, { spur: { asn: `AS${a4}` } }), L(A, { spur: { asn: a3 } }),
      L(A, { spur: { asn: ' ' }, cymru: { asn: `as ${a4}` } }), L(A, { spur: [a3, 'x'] }),
      L(A, cap(A, { as: 'ASx' })), L(A, cap(A, { as: 0 })), L(A, cap(A, { as: null, spur0: 'n/a' })), L(A, { spur: { asn: { number: 'x' } } }),
      L(A, { spur: { asn: [1] } }), L(A, { spur: [{ n: 1 }] }), L(A, cap(A, { as: 4134.5 })),
      // country: geolocation captured -> inventory (not XX) -> ascountry -> XX
      L(A, { ...cap(A), maxmind: { country: 'de' } }), L(A, cap(A, { ascountry: 'JP' })), L(B, cap(B, { as: a2, ascountry: 'cn' })),
      L(B, cap(B, { ascountry: '' })), L(B, cap(B, { ascountry: 'CHN' })), L(A, cap(A, { ascountry: 'CHN' })), L(OUT, cap(OUT, { ascountry: 'fr' })),
      L(OUT, {}), L(B, { ...cap(B, { ascountry: ' ' }), cymru: { country: 'us' } }), L(B, { ...cap(B), maxmind: { country: 'USA' } }),
      // type: capture spur -> ip_inventory.ip_types -> the inventory's spur, the preferred of several
      L(A, cap(A, { spur3: ' mobile ' })), L(A, { spur: { client: { types: ['DESKTOP', 'tor', 'VPN'] }, infrastructure: 'DATACENTER' } }),
      L(A, { spur: { client: { types: [] }, infrastructure: 'datacenter' } }), L(D, cap(D, { spur3: '' })), L(B, cap(B, { spur3: '' })),
      L(C, {}), L(A, cap(A, { spur3: '' })), L(A, { spur: ['1', 'x', 'y'] }), L(A, { spur: { client: { types: 'tor' } } }), L(A, { spur: ['', '', '', 5] }),
      // enrichment_at: enriched_at (capture, then top level) -> created_at when a value was captured -> inventory
      L(A, { ...cap(A), enriched_at: '2025-02-01T00:00:00Z' }), L(A, { ...cap(A), enriched_at: 'soon' }),
      L(A, cap(A), { enriched_at: '2025-02-02T00:00:00Z' }), { doc: L(A, cap(A)), created: '2025-06-01T01:00:00.5Z' },
      { doc: L(D, cap(D, { as: null, spur0: '', spur3: '', ascountry: '' })), created: '2025-06-01T01:00:00.123Z' },
      // the skip-enrich payload: everything from ip_inventory, never a reject
      skip(A), skip(C), skip(D), skip(OUT), skip('not-an-ip'),
      // the flat shape under the new precedence
      JSON.stringify({ dshield: { ip: { number: B, ascountry: 'cn' } }, cymru: { asn: `AS${a2}` } }),
      JSON.stringify({ dshield: { ip: { number: A, as: a3, ascountry: 'JP' } }, spur: spur18(String(a4), 'tor') }),
      // the flat shape's own edge cases
      '{"foo": 1}', '{"dshield": null}', '{"dshield": null, "spur": null}', '{ }', '[]', '"text"', '5', 'true',
      '{"dshield": {"ip": "1.2.3.4"}}', '{"dshield": {"ip": {"number": 16909060}}}', '{"dshield": {"ip": {"number": ["1.2.3.4"]}}}',
      ...[{ cymru: { asn: true } }, { cymru: { asn: 'AS 0' } }, { enriched_at: 1746093600 }, { enriched_at: { t: 1 } }, { enriched_at: null },
        { enriched_at: ' 2025-05-01 ' }, { spur: { client: { types: [' ', 'vpn'] } } }, { spur: { client: { types: [1, null] } } }, { spur: { client: 'x' } },
        { maxmind: { country: '' }, cymru: { country: 'us' } }, { maxmind: { country: ' ' }, dshield: { ip: { number: A, ascountry: 'de' } } },
        { maxmind: { country: 'USA' }, cymru: { country: 'US' } }, { maxmind: { country: null }, cymru: { country: null } },
        { dshield: { ip: { number: `::FFFF:${A}` } } }, { dshield: { ip: { number: A, ascountry: 5 } }, maxmind: null }]
        .map((o) => JSON.stringify({ dshield: { ip: { number: A } }, ...o })),
      `{"dshield": {"ip": {"number": "${A}"}}, "cymru": {"asn": 1e3}}`, `{"dshield": {"ip": {"number": "${A}"}}, "cymru": {"asn": 4134.0}}`,
      `{"dshield": {"ip": {"number": " ${A.toUpperCase()}\\t"}}}`,
      // a \u0000 escape, in a value the rule reads or not: PostgreSQL raises (its batch isolates the row as row_error)
      L(A, cap(A, { ascountry: 'U\u0000S' })), `{"session": {"${A}": {}}, "virustotal": {"x": "a\\u0000b"}}`,
    ];
    const ins = db.prepare(`INSERT INTO session_summaries (session_id, first_event_at, created_at, enrichment) VALUES (?, ?, ?, ?)`);
    docs.forEach((d, i) => {
      const o = typeof d === 'string' ? { doc: d } : d;
      ins.run(`zz-edge-${String(i).padStart(3, '0')}`, o.first ?? '2025-06-01T00:00:00.000000Z', o.created ?? '2025-06-01T01:00:00.000000Z', o.doc);
    });
  } finally {
    db.close();
  }
  return f;
}

for (const server of testServers()) {
  describe(`parity with PostgreSQL ${server.version}`, () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await freshDatabase(server);
    });
    afterAll(async () => {
      await t?.drop();
    });

    it('the parsers give what backfill_parse_* and backfill_spur_ip_type give', async () => {
      const ips = ['1.2.3.4', ' 10.0.0.1 ', '1.2.3.04', '001.002.003.004', '1.2.3', '1.2.3.4.5', '256.1.1.1', '999.1.2.3', 'not-an-ip', '',
        '1.2.3.0/24', '1.2.3.4/32', 'fe80::1%eth0', '::', '::1', '::ffff:1.2.3.4', '::1.2.3.4', '2001:DB8::1', '2001:db8:0:0:1:0:0:1',
        '2001:0db8:0000:0000:0000:0000:0000:0001', '1:0:0:2:0:0:0:3', '1::2::3', '12345::1', ':1', '1:', '::ffff:01.2.3.4', '1.2.3.4:80',
        'abcd:ef01:2345:6789:abcd:ef01:2345:6789', '0:0:0:0:0:0:0:1', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', 'ABC', '1..2.3', '127.0.0.1',
        '::ffff:1.2.3.4/128', '2001:db8::1/128', '2001:db8::1/64', '2001:db8::1/0128', '1.2.3.4/032', '1.2.3.4/33', '10/8', '1.2.3/32',
        '::1.2.3.4/128', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', ' 2001:DB8::A \t'];
      const asns = ['4134', 'AS4134', 'as 4134', ' AS4134 ', 'AS  4134', '0', '-5', '4134.0', 'AS', 'n/a', '2147483647', '2147483648', '00042',
        '99999999999', '', 'As\t7', 'AS-5', '+5', '0000000042', '00000000042', 'ASAS1', '1e3', '٣'];
      const countries = ['CN', 'cn', ' de ', 'CHN', 'C', '12', 'XX', 'Ch1na', '', 'u s'];
      const types = ['"DATACENTER"', '" datacenter "', '["MOBILE","DESKTOP"]', '[1, " ", "vpn"]', '[]', '""', 'null', '5', 'true', '{"a":1}', '[null]',
        '["MOBILE","VPN"]', '["DESKTOP","MOBILE"]', '["DESKTOP","LAPTOP"]', '["residential"," tor ","proxy","tor"]', '["tor","VPN"]', '["x","datacenter","mobile"]'];
      const spurs = ['["1","a","","DATACENTER"]', '["1","a","",""]', '["1","a",""]', '["1","a","",5]', '["1","a",""," mobile "]', '[]', 'null', '"VPN"', '5',
        '{"client":{"types":["MOBILE","PROXY"]},"infrastructure":"DATACENTER"}', '{"client":{"types":[]},"infrastructure":" datacenter "}',
        '{"client":"x","infrastructure":"MOBILE"}', '{"client":{"types":"vpn"}}', '{"client":null,"infrastructure":5}', '{"client":[{"types":"VPN"}]}', '{}'];
      const times = ['2025-05-01T10:00:00Z', '2025-05-01 10:00:00.123+02', '2025-05-01', '2025-05-01 10:00 UTC', '1746093600', '1746093600.5',
        '1746093600.123456', 'yesterday', '2025-13-45', '2025-02-30', '2024-02-29T23:59:59.999999Z', '', 'now', '2025-05-01T10:00:00+05:30',
        '2025-05-01T10:00:00-0800', '2025-05-01T24:00:00', '2025-05-01 10:00:00.1234567', '2025-05-01T10:00', '0000-01-01', '2025-05-01T10:00:00z',
        '2025-05-01T10:00:00+16:00', '12345678', '2025-05-01T10:00:00 +02:00', '2025-05-01 10:00:00 GMT', '1746093600.', '2025-5-1',
        '2025-05-01 1:00', '2025-05-01+02', '2025-05-01 +02', '2025-05-01Z', '2025-05-01T10:00:00.5-03', '123456789', '1746093600.1234567',
        '2025-05-01T10:00:60', '2025-05-01T10:60', '2025-05-01 00:00:00.000000001', '1900-02-29', '2000-02-29 12:00:00+15:59', '2025-05-01 10:00 XYZ',
        '2025-05-01T10:00:60.5', '2025-05-01T23:59:60', '2025-12-31 24:00:00'];
      const [pg] = await t.sql`
        SELECT (SELECT json_agg(backfill_parse_ip(x) ORDER BY i) FROM unnest(${ips}::text[]) WITH ORDINALITY u(x, i)) AS ips,
               (SELECT json_agg(backfill_parse_asn(x) ORDER BY i) FROM unnest(${asns}::text[]) WITH ORDINALITY u(x, i)) AS asns,
               (SELECT json_agg(backfill_parse_country(x) ORDER BY i) FROM unnest(${countries}::text[]) WITH ORDINALITY u(x, i)) AS countries,
               (SELECT json_agg(backfill_parse_ip_type(x::json) ORDER BY i) FROM unnest(${types}::text[]) WITH ORDINALITY u(x, i)) AS types,
               (SELECT json_agg(backfill_spur_ip_type(x::json) ORDER BY i) FROM unnest(${spurs}::text[]) WITH ORDINALITY u(x, i)) AS spurs,
               (SELECT json_agg(to_char(backfill_parse_timestamptz(x) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ORDER BY i)
                  FROM unnest(${times}::text[]) WITH ORDINALITY u(x, i)) AS times`;
      const z = <T>(xs: string[], f: (x: string) => T): Record<string, T> => Object.fromEntries(xs.map((x) => [x, f(x)]));
      const p = pg as Record<string, unknown[]>;
      expect(z(ips, parseIp)).toEqual(z(ips, (x) => p.ips![ips.indexOf(x)]));
      expect(z(asns, parseAsn)).toEqual(z(asns, (x) => p.asns![asns.indexOf(x)]));
      expect(z(countries, parseCountry)).toEqual(z(countries, (x) => p.countries![countries.indexOf(x)]));
      expect(z(types, parseIpType)).toEqual(z(types, (x) => p.types![types.indexOf(x)]));
      expect(parseIpType('["MOBILE","VPN"]')).toBe('VPN'); // the preference, not the first element
      expect(z(spurs, spurIpType)).toEqual(z(spurs, (x) => p.spurs![spurs.indexOf(x)]));
      expect(z(times, parseTimestamp)).toEqual(z(times, (x) => p.times![times.indexOf(x)]));
    });

    it('the backfill fills the same values, counts the same sources and rejects the same rows as backfill_snapshot_source, both shapes', async () => {
      const f = parityFixture();
      // Load the same rows into PostgreSQL, created_at included (the malformed-JSON session cannot exist there: its json type
      // refuses it; the rule raises on the \u0000 ones, checked apart below).
      const rows = (table: string): Row[] => query(f, `SELECT * FROM ${table}`);
      const all = rows('session_summaries');
      const nul = all.filter((r) => String(r.enrichment).includes('\\u0000'));
      const sessions = all.filter((r) => r.enrichment === null || (isJson(String(r.enrichment)) && !nul.includes(r)));
      await t.sql`INSERT INTO asn_inventory (asn_number, organization_name, organization_country, rir_registry, asn_type, first_seen, last_seen)
        SELECT * FROM json_to_recordset(${t.sql.json(rows('asn_inventory') as never)}::json)
          AS x(asn_number int, organization_name text, organization_country text, rir_registry text, asn_type text, first_seen timestamptz, last_seen timestamptz)`;
      await t.sql`INSERT INTO ip_inventory (ip_address, current_asn, first_seen, last_seen, session_count, enrichment, enrichment_updated_at, ip_types)
        SELECT ip_address, current_asn, first_seen, last_seen, session_count, enrichment::jsonb, enrichment_updated_at,
               ARRAY(SELECT json_array_elements_text(coalesce(ip_types, '[]')::json))
        FROM json_to_recordset(${t.sql.json(rows('ip_inventory') as never)}::json)
          AS x(ip_address text, current_asn int, first_seen timestamptz, last_seen timestamptz, session_count int, enrichment text,
               enrichment_updated_at timestamptz, ip_types text)`;
      await t.sql`INSERT INTO ip_asn_history SELECT * FROM json_to_recordset(${t.sql.json(rows('ip_asn_history') as never)}::json)
          AS x(ip_address text, asn_number int, observed_at timestamptz)`;
      await t.sql`INSERT INTO session_summaries (session_id, first_event_at, last_event_at, created_at, enrichment, source_ip, snapshot_asn,
          snapshot_country, snapshot_ip_type, enrichment_at)
        SELECT session_id, first_event_at, last_event_at, created_at, enrichment::json, source_ip, snapshot_asn, snapshot_country,
               snapshot_ip_type, enrichment_at
        FROM json_to_recordset(${t.sql.json(sessions as never)}::json)
          AS x(session_id text, first_event_at timestamptz, last_event_at timestamptz, created_at timestamptz, enrichment text, source_ip text,
               snapshot_asn int, snapshot_country text, snapshot_ip_type text, enrichment_at timestamptz)`;
      // The geolocation both engines read: SQLite's plain column = PostgreSQL's generated one.
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
      expect(expected.length).toBeGreaterThan(1500);

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
      expect(summary.rows.scanned).toBe(expected.length + (all.length - sessions.length));
      expect(nul.length).toBe(2);
      for (const r of nul) {
        // PostgreSQL's rule reads nothing of such a document: a row_error reject, with the detail SQLite records
        const [pg] = await t.sql`SELECT reject_reason, reject_detail FROM backfill_snapshot_source(${String(r.enrichment)}::text::json, now(), now())`;
        expect(pg?.reject_reason).toBe('row_error');
        expect(pg?.reject_detail).toMatch(/^22P05: unsupported Unicode escape sequence/);
        expect(rejects.get(r.session_id)).toMatchObject({ reason: pg?.reject_reason, detail: pg?.reject_detail });
      }

      // The sources of the filled values, counted as PostgreSQL's run counts them.
      const count = (col: string, source: string): number => expected.filter((e) => e[col] === source).length;
      expect(summary.sources).toEqual({
        snapshot_asn: { json: count('f_asn', 'json'), history: count('f_asn', 'history'), inventory: count('f_asn', 'inventory') },
        snapshot_country: { json: count('f_country', 'json'), inventory: count('f_country', 'inventory'), default: count('f_country', 'default') },
        snapshot_ip_type: { json: count('f_ip_type', 'json'), inventory: count('f_ip_type', 'inventory') },
        enrichment_at: { json: count('f_at', 'json'), session: count('f_at', 'session'), inventory: count('f_at', 'inventory') },
      });
      const multiIp = expected.filter((e) => Number(e.ip_keys) > 1).length;
      expect(summary.rows.multiIp).toBe(multiIp);
      expect(query(f, 'SELECT rows_multi_ip, enrichment_at_from_session FROM backfill_runs WHERE run_id = ?', summary.runId)[0])
        .toEqual({ rows_multi_ip: multiIp, enrichment_at_from_session: count('f_at', 'session') });
      expect(summary.run).toMatchObject({ rows: { multiIp }, enrichmentAtFromSession: count('f_at', 'session') });

      // The fixture exercises the loader shape: most sessions in it, every source reached, each reason seen.
      expect(expected.filter((e) => e.ip_keys !== null).length).toBeGreaterThan(1000);
      expect(multiIp).toBeGreaterThan(100);
      for (const [col, sources] of Object.entries(summary.sources)) {
        for (const [source, n] of Object.entries(sources)) expect(n, `${col} from ${source}`).toBeGreaterThan(0);
      }
      expect(new Set(expected.map((e) => e.reason))).toEqual(new Set([null, ...REJECT_REASONS.filter((r) => r !== 'row_error')]));
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
