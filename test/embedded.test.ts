// The embedded default: started by the CLI itself (as root through a dedicated OS
// user), persistent data reused on the next run, a free port when the default is
// taken, and stopped again when the command ends.
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './harness/servers.js';

const home = mkdtempSync(join(tmpdir(), 'cowrie-db-home-'));
chmodSync(home, 0o711);
const env = { COWRIE_DB_HOME: home, COWRIE_DB_PORT: '0', PGHOST: '', PGPORT: '', PGUSER: '', PGDATABASE: '', PGPASSWORD: '' };

async function occupyPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

describe('embedded PostgreSQL 17', () => {
  afterAll(async () => {
    await runCli(['server', 'stop'], { env });
    rmSync(home, { recursive: true, force: true });
  });

  it('initialises, migrates, and stops at exit; a taken port is avoided', async () => {
    const { server, port } = await occupyPort();
    try {
      const run = await runCli(['migrate', '--verbose'], { env: { ...env, COWRIE_DB_PORT: String(port) } });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/applied \d+ migration/);
      expect(run.stderr).toMatch(/started embedded PostgreSQL on 127\.0\.0\.1:(\d+)/);
      const used = Number(/started embedded PostgreSQL on 127\.0\.0\.1:(\d+)/.exec(run.stderr)![1]);
      expect(used).not.toBe(port);
      expect(existsSync(join(home, 'pg17', 'data', 'PG_VERSION'))).toBe(true);
      expect(existsSync(join(home, 'pg17', 'data', 'postmaster.pid'))).toBe(false);
      expect(run.stderr + run.stdout).not.toMatch(/password/i);
    } finally {
      server.close();
    }
  });

  it('reuses the data directory on the next run', async () => {
    const run = await runCli(['migrate', '--json'], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).applied).toEqual([]);
  });

  it('server start keeps it running for psql and later commands; stop ends it', async () => {
    const start = await runCli(['server', 'start'], { env });
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/connect with: PGPASSFILE=.*psql -h 127\.0\.0\.1 -p \d+ -U cowrie cowrie/);
    const status = await runCli(['server', 'status', '--json'], { env });
    expect(JSON.parse(status.stdout).running).toBe(true);
    const again = await runCli(['migrate', '--json'], { env });
    expect(again.code).toBe(0);
    expect(JSON.parse((await runCli(['server', 'status', '--json'], { env })).stdout).running).toBe(true);
    const stop = await runCli(['server', 'stop'], { env });
    expect(stop.stdout).toMatch(/stopped/);
    expect(JSON.parse((await runCli(['server', 'status', '--json'], { env })).stdout).running).toBe(false);
  });
});
