// The procedure's bounds that the runner checks flags against before any CALL
// (src/backfill/bounds.ts) are those of the installed backfill_snapshots: its
// min_batch_size / max_batch_size defaults, and what it refuses and accepts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADAPTIVE_BATCH_MAX, ADAPTIVE_BATCH_MIN, BATCH_SIZE_MAX, PAUSE_MS_MAX, TARGET_BATCH_MS_MAX, TARGET_BATCH_MS_MIN, WORKERS_MAX,
} from '../src/backfill/bounds.js';
import { runCli, testServers, type TestDatabase } from './harness/servers.js';
import { seededDatabase } from './backfill-cli.helpers.js';

describe.each(testServers())('backfill bounds on $name', (server) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await seededDatabase(server, 300);
  });
  afterAll(async () => t.drop());

  const call = (args: string) => t.sql.unsafe(`CALL backfill_snapshots(${args}, dry_run => true, max_batches => 1, quiet => true, restart => true)`);

  it('src/backfill/bounds.ts matches the procedure\'s defaults and checks', async () => {
    const [row] = await t.sql`select pg_get_function_arguments(p.oid) as args from pg_proc p where p.proname = 'backfill_snapshots' and p.prokind = 'p'`;
    const args = String(row!.args);
    expect(args).toContain(`min_batch_size integer DEFAULT ${ADAPTIVE_BATCH_MIN}`);
    expect(args).toContain(`max_batch_size integer DEFAULT ${ADAPTIVE_BATCH_MAX}`);
    await expect(call(`batch_size => ${ADAPTIVE_BATCH_MIN - 1}, target_batch_ms => 500`)).rejects.toThrow(/must lie between min_batch_size/);
    await expect(call(`batch_size => ${ADAPTIVE_BATCH_MAX + 1}, target_batch_ms => 500`)).rejects.toThrow(/must lie between min_batch_size/);
    await call(`batch_size => ${ADAPTIVE_BATCH_MIN}, target_batch_ms => 500`);
    await call(`batch_size => ${ADAPTIVE_BATCH_MAX}, target_batch_ms => 500`);
    await expect(call(`batch_size => ${BATCH_SIZE_MAX + 1}`)).rejects.toThrow(/batch_size must be between 1 and 1000000/);
    // each bound the CLI checks: the procedure accepts it (its arguments pass, and it gets as far as
    // looking for the named run) and refuses one step beyond
    const accepted = (args: string) => expect(t.sql.unsafe(`CALL backfill_snapshots(${args}, run_id => 999999, quiet => true)`))
      .rejects.toThrow(/run 999999 does not exist/);
    await accepted(`pause_ms => ${PAUSE_MS_MAX}`);
    await expect(call(`pause_ms => ${PAUSE_MS_MAX + 1}`)).rejects.toThrow(/pause_ms must be between 0 and 3600000/);
    await accepted(`target_batch_ms => ${TARGET_BATCH_MS_MIN}`);
    await accepted(`target_batch_ms => ${TARGET_BATCH_MS_MAX}`);
    await expect(call(`target_batch_ms => ${TARGET_BATCH_MS_MIN - 1}`)).rejects.toThrow(/target_batch_ms must be NULL/);
    await expect(call(`target_batch_ms => ${TARGET_BATCH_MS_MAX + 1}`)).rejects.toThrow(/target_batch_ms must be NULL/);
    await accepted(`workers => ${WORKERS_MAX}`);
    await expect(call(`workers => ${WORKERS_MAX + 1}`)).rejects.toThrow(/workers must be between 1 and 64/);
  });

  it('the CLI refuses exactly what the procedure refuses (exit 64 before connecting)', async () => {
    for (const [flag, bad] of [['--pause-ms', PAUSE_MS_MAX + 1], ['--target-batch-ms', TARGET_BATCH_MS_MIN - 1], ['--workers', WORKERS_MAX + 1]] as const) {
      const r = await runCli(['backfill', '--db', t.url, flag, String(bad), '--dry-run']);
      expect(r.code, `${flag} ${bad}`).toBe(64);
    }
  });

  it('a run resumed with --target-batch-ms starts inside the adaptive range (its batch size was 50)', async () => {
    const first = await runCli(['backfill', '--db', t.url, '--batch-size', '50', '--max-batches', '1', '--no-progress', '--restart']);
    expect(first.code, first.stderr).toBe(0);
    const resumed = await runCli(['backfill', '--db', t.url, '--target-batch-ms', '500', '--no-progress', '--no-indexes']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/backfill run \d+ completed/);
  });
});
