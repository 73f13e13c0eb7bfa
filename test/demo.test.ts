// The demo pipeline end to end at small scale: drifted seed, check (CRITICAL),
// migrate, check (clean), validate (NO-GO), backfill, validate: GO.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

describe('cowrie-db demo', () => {
  const server = testServers()[0]!;
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase(server, { migrate: false });
  });
  afterAll(async () => t.drop());

  it('runs every step to a GO verdict', async () => {
    const run = await runCli(['demo', '--sessions', '20000', '--db', t.url], { timeoutMs: 600_000 });
    expect(run.code, run.stdout.slice(-3000) + run.stderr.slice(-3000)).toBe(0);
    expect(run.stdout).toMatch(/CRITICAL drift found, as expected/);
    expect(run.stdout).toMatch(/no drift left/);
    expect(run.stdout).toMatch(/NO-GO, as expected/);
    expect(run.stdout).toMatch(/Verdict: GO/);
    const [col] = await t.sql`select count(*)::int as n from pg_attribute where attrelid = 'session_summaries'::regclass and attname = 'snapshot_ip_type' and not attisdropped`;
    expect(col?.n).toBe(1);
    const [filled] = await t.sql`select count(*) filter (where snapshot_country is not null)::float / count(*) as share from session_summaries`;
    expect(Number(filled?.share)).toBeGreaterThanOrEqual(0.95);
    expect(run.stdout + run.stderr).not.toContain(server.password);
  });
});
