// TLS as libpq does it (issue #22 item 2), against the harness's servers, which run
// with ssl = on and a self-signed certificate: sslmode prefer by default, PGSSLMODE,
// require / verify-ca / verify-full with sslrootcert, and the resume: / undo: commands
// keeping every connection parameter except the password, so that they connect the
// same way.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTarget } from '../src/db/connect.js';
import { resolveTarget } from '../src/db/target.js';
import { runCli, testServers, type TestDatabase } from './harness/servers.js';
import { seededDatabase } from './backfill-cli.helpers.js';

/** The words of a printed command (single-quoted words as cowrie-db prints them). */
function words(command: string): string[] {
  return [...command.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!));
}

const dir = mkdtempSync(join(tmpdir(), 'cowrie-db-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Another self-signed certificate: a root that did not sign the server's. */
const otherRoot = join(dir, 'other.crt');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other',
  '-keyout', join(dir, 'other.key'), '-out', otherRoot], { stdio: 'ignore' });

describe.each(testServers())('TLS on $name', (server) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await seededDatabase(server, 600);
  });
  afterAll(async () => t.drop());

  const base = () => `postgresql://${server.user}@${server.host}:${server.port}/${t.name}`;
  const env = () => ({ PGPASSWORD: server.password });
  const root = encodeURIComponent(server.tlsRootCert);

  it('uses TLS by default (sslmode prefer) and not with sslmode=disable or PGSSLMODE=disable', async () => {
    const dflt = await runCli(['status', '--db', base(), '-v'], { env: env() });
    expect(dflt.code, dflt.stderr).toBe(0);
    expect(dflt.stderr).toMatch(/connection: TLS \(TLSv1\.[23]\), sslmode=prefer/);
    const off = await runCli(['status', '--db', `${base()}?sslmode=disable`, '-v'], { env: env() });
    expect(off.code, off.stderr).toBe(0);
    expect(off.stderr).toMatch(/connection: no TLS, sslmode=disable/);
    const envOff = await runCli(['status', '--db', base(), '-v'], { env: { ...env(), PGSSLMODE: 'disable' } });
    expect(envOff.stderr).toMatch(/connection: no TLS, sslmode=disable/);
    // the server's view, in this process: pg_stat_ssl of the connection
    const db = await openTarget(resolveTarget(`${base()}?sslmode=require`, { ...process.env, ...env() }));
    try {
      const [row] = await db.sql`select ssl from pg_stat_ssl where pid = pg_backend_pid()`;
      expect(row?.ssl).toBe(true);
      expect(db.tls).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('verifies the certificate with verify-ca / verify-full and sslrootcert, and refuses a wrong root (exit 3, one line)', async () => {
    for (const mode of ['verify-ca', 'verify-full']) {
      const ok = await runCli(['status', '--db', `${base()}?sslmode=${mode}&sslrootcert=${root}`, '-v'], { env: env() });
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stderr).toMatch(/connection: TLS/);
    }
    const wrong = await runCli(['status', '--db', `${base()}?sslmode=verify-ca&sslrootcert=${encodeURIComponent(otherRoot)}`], { env: env() });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/TLS certificate is not accepted with sslmode=verify-ca/);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    // sslmode=require with a root certificate given checks it, as libpq does (verify-ca)
    const requireWrong = await runCli(['status', '--db', `${base()}?sslmode=require&sslrootcert=${encodeURIComponent(otherRoot)}`], { env: env() });
    expect(requireWrong.code).toBe(3);
    const missing = await runCli(['status', '--db', `${base()}?sslmode=verify-full&sslrootcert=${encodeURIComponent(join(dir, 'none.crt'))}`], { env: env() });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/cannot read the sslrootcert file .*none\.crt.*ENOENT/);
  });

  it('migrate (node-postgres) connects with sslmode=verify-full too', async () => {
    const run = await runCli(['migrate', '--db', `${base()}?sslmode=verify-full&sslrootcert=${root}`], { env: env() });
    expect(run.code, run.stderr).toBe(0);
  });

  it('printed resume: and undo: commands keep sslmode and sslrootcert (not the password) and connect the same way', async () => {
    const url = `postgresql://${server.user}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/${t.name}?sslmode=verify-full&sslrootcert=${root}`;
    const first = await runCli(['backfill', '--db', url, '--batch-size', '100', '--max-batches', '1', '--no-progress', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const summary = JSON.parse(first.stdout) as { resume_command: string; undo_command: string; run_id: number };
    for (const command of [summary.resume_command, summary.undo_command]) {
      expect(command).toContain('sslmode=verify-full');
      expect(command).toContain(`sslrootcert=${root}`);
      expect(command).not.toContain(server.password);
    }
    const status = await runCli(['status', '--db', url], {});
    expect(status.code, status.stderr).toBe(0);
    const resumeLine = status.stdout.split('\n').find((l) => l.includes('resume:'))!;
    const undoLine = status.stdout.split('\n').find((l) => l.includes('undo:'))!;
    expect(resumeLine).toContain('sslmode=verify-full');
    expect(undoLine).toContain('sslmode=verify-full');
    expect(status.stdout).not.toContain(server.password);
    // The printed command, run as printed (password from PGPASSWORD), connects with TLS and finishes the run.
    const [cmd, ...args] = words(summary.resume_command);
    expect(cmd).toBe('cowrie-db');
    const resumed = await runCli([...args, '--no-progress', '-v'], { env: env() });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/connection: TLS/);
    expect(resumed.stdout).toMatch(new RegExp(`backfill run ${summary.run_id} completed`));
    const [, ...undo] = words(summary.undo_command);
    const undone = await runCli([...undo, '-v'], { env: env() });
    expect(undone.code, undone.stderr).toBe(0);
    expect(undone.stderr).toMatch(/connection: TLS/);
  });
});

describe('a server without TLS', () => {
  it('sslmode=require refuses to go on in plain text: exit 3, one line saying why', async () => {
    // Answers the SSLRequest with 'N' (no TLS), as a server with ssl = off does, then hangs up on what follows.
    const server = createServer((socket) => {
      let first = true;
      socket.on('data', () => {
        if (first) socket.write('N');
        else socket.destroy();
        first = false;
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await runCli(['status', '--db', `postgresql://u:pw@127.0.0.1:${port}/d?sslmode=require`]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/no TLS connection \(sslmode=require requires one; does the server have ssl = on\?\)/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      server.close();
    }
  });
});
