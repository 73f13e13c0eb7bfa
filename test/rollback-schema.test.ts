// The schema rollbacks through the CLI: each runs its sql/rollback script (with its
// verify step) in one transaction; migrate brings the schema back afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlFiles } from '../src/db/sqlfiles.js';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

describe('the commands the rollback scripts name', () => {
  const named = sqlFiles('rollback').flatMap((f) =>
    [...f.text.matchAll(/^--\s+cowrie-db rollback (\S+)((?: --\S+)*)\s*$/gm)].map((m) => ({ file: f.name, name: m[1]!, flags: m[2]!.trim().split(' ').filter(Boolean) })),
  );

  it('every script that has a CLI command names it', () => {
    expect(named.map((n) => n.file).sort()).toEqual(['undo_snapshot_ip_type_rename.sql', 'v16_to_v15.sql']);
  });

  it.each(named)('$file: `cowrie-db rollback $name` exists with the flags it is given', async ({ name, flags }) => {
    const help = await runCli(['rollback', name, '--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain(`Usage: cowrie-db rollback ${name} [options]`);
    for (const flag of flags) expect(help.stdout).toContain(flag);
  });
});

describe.each(testServers())('rollback scripts through the CLI on $name', (server) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase(server);
    await t.sql`insert into session_summaries (session_id, enrichment, snapshot_ip_type) values ('a', '{"x":1}', 'VPN'), ('b', null, null)`;
  });
  afterAll(async () => t.drop());

  it('snapshot-ip-type-rename goes back to the plural column, values kept; migrate realigns', async () => {
    const run = await runCli(['rollback', 'snapshot-ip-type-rename', '--db', t.url]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/verified/);
    const [col] = await t.sql`select count(*)::int as n from pg_attribute where attrelid = 'session_summaries'::regclass and attname = 'snapshot_ip_types' and not attisdropped`;
    expect(col?.n).toBe(1);
    expect((await runCli(['check', '--db', t.url])).code).toBe(2);
    expect((await runCli(['migrate', '--db', t.url])).code).toBe(0);
    const rows = await t.sql`select session_id, snapshot_ip_type from session_summaries order by 1`;
    expect(rows.map((r) => r.snapshot_ip_type)).toEqual(['VPN', null]);
  });

  it('v16-to-v15 needs --yes, keeps every session and its enrichment, and migrate restores v16', async () => {
    const refused = await runCli(['rollback', 'v16-to-v15', '--db', t.url]);
    expect(refused.code).toBe(64);
    const run = await runCli(['rollback', 'v16-to-v15', '--yes', '--db', t.url]);
    expect(run.code, run.stderr).toBe(0);
    const [v] = await t.sql`select value from schema_state where key = 'schema_version'`;
    expect(v?.value).toBe('15');
    expect(await t.sql`select to_regclass('ip_inventory') as r`).toEqual([{ r: null }]);
    const rows = await t.sql`select session_id, enrichment::text as e from session_summaries order by 1`;
    expect(rows.map((r) => [r.session_id, r.e])).toEqual([['a', '{"x":1}'], ['b', null]]);
    const migrate = await runCli(['migrate', '--db', t.url, '--json']);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(JSON.parse(migrate.stdout).applied).toContain('002_v16-three-tier-enrichment');
    expect((await runCli(['check', '--db', t.url])).code).toBe(0);
  });
});
