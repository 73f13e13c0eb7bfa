// `cowrie-db check` names each drift with its severity and fix and exits non-zero;
// `cowrie-db migrate` repairs it in place; check is clean afterwards, values kept.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

interface JsonFinding { severity: string; kind: string; message: string; fix?: string }

describe.each(testServers())('check on $name', (server) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await freshDatabase(server);
    await t.sql`insert into session_summaries (session_id, snapshot_ip_type) values ('s1', 'DATACENTER'), ('s2', null)`;
  });
  afterEach(async () => t.drop());

  const check = async () => {
    const run = await runCli(['check', '--db', t.url, '--json']);
    return { code: run.code, result: JSON.parse(run.stdout) as { findings: JsonFinding[]; exitCode: number }, stderr: run.stderr };
  };

  it('a freshly migrated database is clean: exit 0', async () => {
    const { code, result } = await check();
    expect(result.findings.filter((f) => f.severity !== 'INFO')).toEqual([]);
    expect(code).toBe(0);
  });

  it('plural snapshot_ip_types: CRITICAL with the rename fix; migrate repairs, values kept', async () => {
    await t.sql`alter table session_summaries rename column snapshot_ip_type to snapshot_ip_types`;
    const before = await check();
    expect(before.code).toBe(2);
    const rename = before.result.findings.find((f) => f.kind === 'renamed_column');
    expect(rename?.severity).toBe('CRITICAL');
    expect(rename?.fix).toMatch(/RENAME COLUMN snapshot_ip_types TO snapshot_ip_type/);

    const text = await runCli(['check', '--db', t.url]);
    expect(text.stdout).toMatch(/CRITICAL/);
    expect(text.stdout).toMatch(/snapshot_ip_types/);

    const migrate = await runCli(['migrate', '--db', t.url]);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toMatch(/repaired \d+ drifted object/);
    expect((await check()).code).toBe(0);
    const rows = await t.sql`select session_id, snapshot_ip_type from session_summaries order by 1`;
    expect(rows.map((r) => [r.session_id, r.snapshot_ip_type])).toEqual([['s1', 'DATACENTER'], ['s2', null]]);
  });

  it('a missing generated column and a missing index are found and repaired', async () => {
    await t.sql`alter table ip_inventory drop column geo_country`;
    await t.sql`drop index ix_session_summaries_snapshot_asn`;
    const before = await check();
    expect(before.code).toBeGreaterThanOrEqual(1);
    expect(before.result.findings.map((f) => f.message).join('\n')).toMatch(/geo_country/);
    expect(before.result.findings.find((f) => f.kind === 'missing_index')?.severity).toBe('WARNING');

    const dry = await runCli(['migrate', '--db', t.url, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/GENERATED ALWAYS AS/);
    expect(dry.stdout).toMatch(/REWRITES THE TABLE/);
    expect((await check()).code).toBe(before.code); // dry run changed nothing

    const migrate = await runCli(['migrate', '--db', t.url]);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect((await check()).code).toBe(0);
    const [gen] = await t.sql`select attgenerated::text as g from pg_attribute where attrelid = 'ip_inventory'::regclass and attname = 'geo_country'`;
    expect(gen?.g).toBe('s');
  });

  it('cannot connect: exit 3', async () => {
    const run = await runCli(['check', '--db', `postgresql://postgres:nope-pw@127.0.0.1:${server.port}/${t.name}`]);
    expect(run.code).toBe(3);
    expect(run.stderr).not.toContain('nope-pw');
  });
});
