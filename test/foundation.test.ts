// The foundation on every server: migrations build the schema, re-running is a
// no-op, down migrations return to empty; connection errors are one clean line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateUp } from '../src/db/migrate.js';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

const UPSTREAM_TABLES = ['asn_inventory', 'ip_asn_history', 'ip_inventory', 'schema_state', 'session_summaries'];

describe.each(testServers())('migrations on $name', (server) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase(server, { migrate: false });
  });
  afterAll(async () => t.drop());

  const tables = async (): Promise<string[]> =>
    // pgmigrations and the migration checksums are bookkeeping: they stay, empty.
    (await t.sql`select tablename from pg_tables where schemaname = 'public'
                 and tablename not in ('pgmigrations', 'cowrie_db_migration_checksums') order by 1`).map((r) => String(r.tablename));

  it('builds the schema on an empty database, then re-running changes nothing', async () => {
    const first = await migrateUp(t.db);
    expect(first.applied.length).toBeGreaterThanOrEqual(2);
    expect(await tables()).toEqual(expect.arrayContaining(UPSTREAM_TABLES));
    const [version] = await t.sql`select value from schema_state where key = 'schema_version'`;
    expect(version?.value).toBe('16');

    const catalog = async () =>
      (await t.sql`select c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attgenerated
                   from pg_class c join pg_namespace n on n.oid = c.relnamespace
                   left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                   where n.nspname = 'public' order by 1, 3`).map((r) => JSON.stringify(r));
    const before = await catalog();
    const second = await migrateUp(t.db);
    expect(second.applied).toEqual([]);
    expect(await catalog()).toEqual(before);
  });

  it('the CLI migrate is a no-op the second time and says so', async () => {
    const run = await runCli(['migrate', '--db', t.url, '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).applied).toEqual([]);
  });

  it('down migrations return to an empty database', async () => {
    await migrateDown(t.db, Infinity);
    expect(await tables()).toEqual([]);
    const [rows] = await t.sql`select count(*)::int as n from pgmigrations`;
    expect(rows?.n).toBe(0);
    const [sums] = await t.sql`select count(*)::int as n from cowrie_db_migration_checksums`;
    expect(sums?.n).toBe(0);
    expect(await t.sql`select viewname from pg_views where schemaname = 'public'`).toEqual([]);
  });
});

describe('connection errors', () => {
  const server = testServers()[0]!;

  it('bad password: one line, exit 3, host/port/database named, no password', async () => {
    const run = await runCli(['migrate', '--db', `postgresql://postgres:WrongPassw0rd@127.0.0.1:${server.port}/postgres`]);
    expect(run.code).toBe(3);
    const errorLines = run.stderr.trim().split('\n').filter((l) => l.startsWith('error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toContain(`127.0.0.1:${server.port}`);
    expect(errorLines[0]).toContain('"postgres"');
    expect(errorLines[0]).toMatch(/password authentication failed/);
    expect(run.stderr + run.stdout).not.toContain('WrongPassw0rd');
  });

  it('bad host: exit 3, no password', async () => {
    const run = await runCli(['migrate', '--db', 'postgresql://u:Pw0rdXYZ@no-such-host.invalid:5432/db']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/no-such-host\.invalid:5432, database "db"/);
    expect(run.stderr + run.stdout).not.toContain('Pw0rdXYZ');
  });

  it('nothing listening: exit 3 with connection refused', async () => {
    const run = await runCli(['migrate', '--db', 'postgresql://u:Pw0rdXYZ@127.0.0.1:1/db']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/connection refused/);
  });

  it('unknown scheme: usage error 64 without the password', async () => {
    const run = await runCli(['migrate', '--db', 'mysql://u:Pw0rdXYZ@h/db']);
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(/unsupported scheme 'mysql:'/);
    expect(run.stderr).not.toContain('Pw0rdXYZ');
  });
});
