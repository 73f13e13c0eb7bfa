// Issue #22 items 3, 5 and 6: bad input gives one clear error line and the documented
// exit code (no stack trace, nothing lost); permission errors exit 3; redaction is
// structural (passwords that are ordinary words leave the output intact); the
// "already running" error of the procedure keeps its pg_cancel_backend hint.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFor } from '../src/db/connect.js';
import { runCli, testServers, type CliResult, type TestDatabase } from './harness/servers.js';
import { seededDatabase, waitFor } from './backfill-cli.helpers.js';

const NOWHERE = 'postgresql://u:Secr3tPw@127.0.0.1:1/nowhere';
const dir = mkdtempSync(join(tmpdir(), 'cowrie-db-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Exactly one error line on stderr, no stack trace. */
function oneErrorLine(r: CliResult, pattern: RegExp): void {
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  expect(errors, r.stderr).toHaveLength(1);
  expect(errors[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('numeric flags take plain decimal integers only (exit 64 before connecting)', () => {
  const cases: [string[], RegExp][] = [
    [['backfill', '--batch-size', ''], /--batch-size: must be an integer from 1 to 1000000/],
    [['backfill', '--batch-size', '0x10'], /--batch-size: must be an integer/],
    [['backfill', '--batch-size', '1e3'], /--batch-size: must be an integer/],
    [['backfill', '--batch-size', ' 5'], /--batch-size: must be an integer/],
    [['backfill', '--pause-ms', ''], /--pause-ms: must be an integer from 0 to 3600000/],
    [['rollback', 'backfill', '--run', '0x1'], /--run: must be an integer/],
    [['rollback', 'backfill', '--run', '1e0'], /--run: must be an integer/],
    [['rollback', 'backfill', '--run', ''], /--run: must be an integer/],
    [['status', '--limit', '0x10'], /--limit: must be an integer from 1 to 100000/],
    [['status', '--run', '1.0'], /--run: must be an integer/],
    [['validate', '--min-coverage', ''], /--min-coverage: must be a number from 0 to 100/],
    [['validate', '--min-coverage', '0x10'], /--min-coverage: must be a number/],
    [['validate', '--sample-size', '1e3'], /--sample-size: must be an integer/],
    [['backfill', '--batch-size', '50', '--target-batch-ms', '500'], /--batch-size: with --target-batch-ms it must be an integer from 100 to 50000/],
    [['backfill', '--batch-size', '60000', '--target-batch-ms', '500'], /--batch-size: with --target-batch-ms it must be an integer from 100 to 50000/],
  ];
  it.each(cases)('%j', async (args, message) => {
    const r = await runCli([...args, '--db', NOWHERE]);
    expect(r.code, r.stderr).toBe(64);
    oneErrorLine(r, message);
    expect(r.stdout).toBe('');
  });

  it('a malformed percent-escape in the URL is a usage error, not URIError (and no password shown)', async () => {
    const r = await runCli(['status', '--db', 'postgresql://u:Secr3t%zzPw@127.0.0.1:1/d']);
    expect(r.code).toBe(64);
    oneErrorLine(r, /--db: the URL's password has a malformed percent-escape/);
    expect(r.stderr).not.toMatch(/URIError|Secr3t/);
    const env = await runCli(['status'], { env: { DATABASE_URL: 'postgresql://u@127.0.0.1:1/d%' } });
    expect(env.code).toBe(64);
    oneErrorLine(env, /DATABASE_URL: the URL's database name has a malformed percent-escape/);
  });
});

describe('validate --config is read bounded and checked against integer ranges (exit 64)', () => {
  it('--config /dev/zero is refused without reading it all', async () => {
    const r = await runCli(['validate', '--db', NOWHERE, '--config', '/dev/zero']);
    expect(r.code).toBe(64);
    oneErrorLine(r, /--config \/dev\/zero: larger than 1048576 bytes/);
  });

  it.each([
    [{ performance: { snowshoeMinIps: 99999999999 } }, /performance\.snowshoeMinIps: .*1000000000/],
    [{ readiness: { batchSize: 1e12 } }, /readiness\.batchSize: .*1000000/],
  ])('%j', async (config, message) => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(config));
    const r = await runCli(['validate', '--db', NOWHERE, '--config', file]);
    expect(r.code).toBe(64);
    oneErrorLine(r, message);
  });
});

describe.each(testServers())('bad input and privileges against $name', (server) => {
  let t: TestDatabase;
  const roles: string[] = [];
  const admin = () => clientFor({ kind: 'postgres', host: server.host, port: server.port, user: server.user, password: server.password, database: 'postgres', params: {}, source: 'flag' }, { max: 1, onnotice: () => undefined });
  const urlAs = (user: string, password: string) => `postgresql://${user}:${encodeURIComponent(password)}@${server.host}:${server.port}/${t.name}`;

  async function role(name: string, password: string, options = ''): Promise<string> {
    const a = admin();
    try {
      await a.unsafe(`drop role if exists ${name}`);
      await a.unsafe(`create role ${name} login password '${password}' ${options}`);
    } finally {
      await a.end();
    }
    roles.push(name);
    return name;
  }

  beforeAll(async () => {
    t = await seededDatabase(server, 300);
  });
  afterAll(async () => {
    await t.drop();
    const a = admin();
    for (const r of roles) await a.unsafe(`drop role if exists ${r}`);
    await a.end();
  });

  it('status --run of a run that does not exist: exit 64 naming it (was: "no backfill run yet", exit 0)', async () => {
    const r = await runCli(['status', '--db', t.url, '--run', '2147483648']);
    expect(r.code).toBe(64);
    oneErrorLine(r, /--run: there is no backfill run 2147483648/);
    const json = await runCli(['status', '--db', t.url, '--run', '2147483648', '--json']);
    expect(json.code).toBe(64);
    expect(json.stdout).toBe('');
  });

  it('permission errors exit 3 with one line (status, backfill, rollback), test without CREATEDB too', async () => {
    const low = await role(`low_${server.name}_${process.pid}`, 'Low-pw-1');
    const url = urlAs(low, 'Low-pw-1');
    for (const args of [['status'], ['backfill', '--no-progress'], ['rollback', 'backfill', '--run', '1']]) {
      const r = await runCli([...args, '--db', url]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(3);
      oneErrorLine(r, /permission denied/);
      expect(r.stderr).not.toContain('Low-pw-1');
    }
    const tr = await runCli(['test', '--db', url]);
    expect(tr.code, tr.stderr).toBe(3);
    oneErrorLine(tr, /may not create one \(needs CREATEDB\).*--in-place/);
  });

  it.each(['true', 'run', 'cowrie'])('password %j: --json, status --json, the status and checkpoint files stay intact', async (pw) => {
    const user = await role(`pw_${pw}_${server.name}_${process.pid}`, pw, 'superuser');
    const url = urlAs(user, pw);
    const statusDir = join(dir, `status-${pw}-${server.name}`);
    const checkpoint = join(dir, `cp-${pw}-${server.name}.json`);
    const dry = await runCli(['backfill', '--db', url, '--dry-run', '--json', '--no-progress', '--status-dir', statusDir, '--checkpoint-file', checkpoint]);
    expect(dry.code, dry.stderr).toBe(0);
    const summary = JSON.parse(dry.stdout) as { dry_run: boolean; status: string };
    expect(summary).toMatchObject({ dry_run: true, status: 'completed' });
    const status = await runCli(['status', '--db', url, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const doc = JSON.parse(status.stdout) as { runs: { dry_run: boolean; status: string }[] };
    expect(doc.runs.length).toBeGreaterThan(0);
    const text = await runCli(['status', '--db', url]);
    expect(text.stdout).toMatch(/^run \d+ \(dry run\): completed/m);
    const [statusFile] = readdirSync(statusDir).filter((f) => f.endsWith('.json'));
    for (const file of [join(statusDir, statusFile!), checkpoint]) {
      const content = readFileSync(file, 'utf8');
      expect(JSON.parse(content)).toMatchObject({ tool: 'cowrie-db' });
      expect(content).not.toContain('***');
    }
    expect(readFileSync(join(statusDir, `${statusFile!}l`), 'utf8')).toContain('"tool":"cowrie-db"');
  });

  it('a CALL from psql holds the database: the runner says so with the procedure\'s pg_cancel_backend hint', async () => {
    const holder = clientFor(t.target, { max: 1, onnotice: () => undefined });
    const call = holder.unsafe('CALL backfill_snapshots(batch_size => 10, pause_ms => 2000, restart => true, quiet => true)').catch(() => undefined);
    try {
      await waitFor(async () => (await t.sql`select count(*)::int as n from backfill_runs where status = 'running' and backend_pid is not null`)[0]?.n === 1, 30_000, 'the psql CALL');
      const [running] = await t.sql`select run_id, backend_pid from backfill_runs where status = 'running'`;
      const r = await runCli(['backfill', '--db', t.url, '--no-progress']);
      expect(r.code).toBe(1);
      oneErrorLine(r, new RegExp(`run ${running!.run_id} is already running \\(backend pid ${running!.backend_pid}\\).*pg_cancel_backend\\(${running!.backend_pid}\\)`));
    } finally {
      await t.sql`select pg_cancel_backend(backend_pid) from backfill_runs where status = 'running' and backend_pid is not null`;
      await call;
      await holder.end({ timeout: 1 });
    }
  });
});
