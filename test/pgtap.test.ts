// The pgTAP suite (sql/tests) on every server: through `cowrie-db test`, and with
// pg_prove (the standard runner a DBA or CI uses).
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ensurePgtap, parseTap, runTapFile } from '../src/db/pgtap.js';
import { sqlFiles } from '../src/db/sqlfiles.js';
import { freshDatabase, runCli, testServers } from './harness/servers.js';

const execFileAsync = promisify(execFile);

async function havePgProve(): Promise<boolean> {
  try {
    await execFileAsync('pg_prove', ['--version']);
    return true;
  } catch {
    return false;
  }
}

describe('parseTap', () => {
  it('counts passes, failures, skips and TODOs as TAP consumers do', () => {
    const r = parseTap('f.sql', ['1..5', 'ok 1 - a', 'ok 2 # SKIP no server', 'not ok 3 - b # TODO later', 'not ok 4 - c', '# Failed test 4', 'ok 5']);
    expect(r).toMatchObject({ planned: 5, passed: 2, failed: 1, skipped: 1, todo: 1, error: undefined });
  });
  it('an unmet plan, a bail-out, no plan at all or a file that died is a failure', () => {
    expect(parseTap('f.sql', ['1..3', 'ok 1', 'ok 2'])).toMatchObject({ passed: 2, failed: 1 });
    expect(parseTap('f.sql', ['ok 1', 'Bail out! fixture missing'])).toMatchObject({ failed: 1, error: 'bailed out: fixture missing' });
    expect(parseTap('f.sql', [])).toMatchObject({ passed: 0, failed: 1, error: 'no TAP plan in its output' });
    expect(parseTap('f.sql', ['1..2', 'ok 1', 'ok 2'], 'relation "x" does not exist')).toMatchObject({ passed: 2, failed: 1, error: 'died: relation "x" does not exist' });
  });
});

describe.each(testServers())('pgTAP suite on $name', (server) => {
  it("pgTAP's own skip() and todo() are neither passes nor failures", async () => {
    const t = await freshDatabase(server, { migrate: false });
    try {
      await ensurePgtap(t.sql, server.extensionDir);
      const text = ['BEGIN;', 'SELECT plan(4);', "SELECT pass('one');", "SELECT skip('not on this server', 1);",
        "SELECT * FROM todo('not written yet', 1);", "SELECT fail('expected to fail');", "SELECT ok(true, 'four');", 'SELECT * FROM finish();', 'ROLLBACK;'].join('\n');
      const r = await runTapFile(t.sql, { name: 'skip_todo.sql', path: join(tmpdir(), 'skip_todo.sql'), text });
      expect(r.lines.join('\n')).toMatch(/# SKIP/);
      expect(r).toMatchObject({ planned: 4, passed: 2, failed: 0, skipped: 1, todo: 1, error: undefined });
    } finally {
      await t.drop();
    }
  });

  const adminUrl = `postgresql://${server.user}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/postgres`;

  it('cowrie-db test runs every file on a scratch database and all pass', async () => {
    const files = sqlFiles('tests');
    expect(files.length).toBeGreaterThan(0);
    const run = await runCli(['test', '--db', adminUrl], { timeoutMs: 600_000 });
    if (run.code !== 0) console.error(run.stdout.split('\n').filter((l) => /^not ok|died|^#/.test(l)).join('\n'), run.stderr);
    expect(run.code).toBe(0);
    const summary = /pgtap: (\d+) passed, (\d+) failed/.exec(run.stdout);
    expect(summary).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThan(files.length);
    expect(Number(summary![2])).toBe(0);
    for (const f of files) expect(run.stdout).toContain(`# ${f.name}`);
    expect(run.stdout + run.stderr).not.toContain(server.password);
  });

  it('a failing assertion makes cowrie-db test exit 1', async () => {
    const t = await freshDatabase(server);
    try {
      // Break what 01_schema_state.sql asserts, then run that file in place.
      await t.sql`update schema_state set value = '15' where key = 'schema_version'`;
      const run = await runCli(['test', '--db', t.url, '--in-place', '01_schema_state.sql']);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/^not ok/m);
      expect(run.stdout).toMatch(/pgtap: \d+ passed, [1-9]\d* failed/);
    } finally {
      await t.drop();
    }
  });

  it('pg_prove runs the same files', async () => {
    if (!(await havePgProve())) {
      if (process.env.CI) throw new Error('pg_prove missing in CI: apt-get install libtap-parser-sourcehandler-pgtap-perl');
      console.warn('pg_prove not installed: skipped');
      return;
    }
    const t = await freshDatabase(server);
    try {
      await t.sql`create extension if not exists pgtap`;
      const files = sqlFiles('tests').map((f) => f.path);
      const { stdout } = await execFileAsync('pg_prove', ['-h', server.host, '-p', String(server.port), '-U', server.user, '-d', t.name, ...files], {
        env: { ...process.env, PGPASSWORD: server.password },
        maxBuffer: 20 * 1024 * 1024,
      });
      expect(stdout).toMatch(/Result: PASS/);
    } finally {
      await t.drop();
    }
  });
});
