// cowrie-db backfill / status / rollback backfill, end to end through the built CLI,
// on every test server: flag validation, the summary and --json, interruption by
// SIGINT and SIGTERM (once: the batch commits; twice: it is cancelled) and resume
// to a table identical to an uninterrupted run, status and checkpoint files, and
// no password anywhere.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, testServers, type TestDatabase } from './harness/servers.js';
import { batchesDone, runRow, seededDatabase, snapshotFingerprint, startCli, waitFor } from './backfill-cli.helpers.js';

const SESSIONS = 3000;
const BATCH = '100';

describe('backfill flags', () => {
  const cases: [string[], RegExp][] = [
    [['--batch-size', '0'], /--batch-size: must be an integer from 1 to 1000000/],
    [['--batch-size', '-5'], /--batch-size: must be an integer from 1 to 1000000/],
    [['--batch-size', '1000000000'], /--batch-size: must be an integer from 1 to 1000000/],
    [['--batch-size', 'lots'], /--batch-size: must be an integer from 1 to 1000000/],
    [['--batch-size', '2.5'], /--batch-size: must be an integer from 1 to 1000000/],
    [['--max-batches', '0'], /--max-batches: must be an integer from 1 to/],
    [['--pause-ms', '-1'], /--pause-ms: must be an integer from 0 to 3600000/],
    [['--target-batch-ms', '0'], /--target-batch-ms: must be an integer from 1 to 600000/],
    [['--workers', '0'], /--workers: must be an integer from 1 to 64/],
    [['--progress-interval', 'x'], /--progress-interval: must be an integer from 1 to 3600/],
    [['--retries', '1000'], /--retries: must be an integer from 0 to 100/],
    [['--resume', '--restart'], /--resume and --restart exclude each other/],
  ];
  it.each(cases)('%j is refused with exit 64 and a message naming the flag', async (args, message) => {
    // No database is needed: validation happens before connecting (the URL points nowhere).
    const run = await runCli(['backfill', '--db', 'postgresql://u:Secr3tPw@127.0.0.1:1/nowhere', ...args]);
    expect(run.code).toBe(64);
    expect(run.stderr).toMatch(message);
    expect(run.stderr + run.stdout).not.toContain('Secr3tPw');
  });

  it('every runbook flag is accepted (help lists them)', async () => {
    // (the exit code of --help is commander's business, set in src/runner.ts)
    const run = await runCli(['backfill', '--help']);
    for (const flag of ['--batch-size', '--max-batches', '--dry-run', '--progress', '--verbose', '--status-dir', '--checkpoint-file',
      '--resume', '--restart', '--pause-ms', '--target-batch-ms', '--no-undo', '--json', '--quiet', '--db']) {
      expect(run.stdout).toContain(flag);
    }
  });
});

describe.each(testServers())('backfill CLI on $name', (server) => {
  let reference: TestDatabase; // one uninterrupted run: the expected final table
  let expected: { md5: string; filled: number };
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'cowrie-bf-'));
    dirs.push(d);
    return d;
  };

  beforeAll(async () => {
    reference = await seededDatabase(server, SESSIONS);
    const run = await runCli(['backfill', '--db', reference.url, '--batch-size', BATCH, '--json', '--no-indexes']);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    expected = await snapshotFingerprint(reference.sql);
    expect(expected.filled).toBeGreaterThan(SESSIONS * 0.8);
  });
  afterAll(async () => {
    await reference?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('prints a summary with rows by outcome, the run id and the undo command; --json prints one document', async () => {
    const t = await seededDatabase(server, SESSIONS);
    try {
      const human = await runCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--max-batches', '5', '--progress', '--progress-interval', '1']);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/backfill run (\d+) stopped after --max-batches \(resumable\)/);
      expect(human.stdout).toMatch(/rows: +500 looked at of ~\d/);
      expect(human.stdout).toMatch(/[\d,]+ filled \([\d,]+ of them without an ip_inventory row: source_ip left NULL\), [\d,]+ unchanged, [\d,]+ rejected/);
      expect(human.stdout).toMatch(/resume: +cowrie-db backfill --db postgresql:\/\/postgres@127\.0\.0\.1:\d+\/\w+ --batch-size 100/);
      expect(human.stdout).toMatch(/undo: +cowrie-db rollback backfill --run \d+ --db postgresql:\/\/postgres@/);
      // not a TTY: plain progress lines, no escape sequences
      expect(human.stderr).toMatch(/backfill run \d+: [\d.]+% [\d,]+\/[\d,]+ rows, [\d,]+ rows\/s, ETA \S+, rejects \d+, batches \d+, batch size 100/);
      expect(human.stderr + human.stdout).not.toMatch(/\x1b\[/);

      const json = await runCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--json', '--quiet']);
      expect(json.code).toBe(0);
      expect(json.stderr).toBe('');
      const lines = json.stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      const s = JSON.parse(lines[0]!);
      expect(s).toMatchObject({ status: 'completed', stopped: 'completed', exit_code: 0, dry_run: false, record_undo: true });
      const first = Number(/run (\d+)/.exec(human.stdout)![1]);
      expect(s.run_id).toBe(first); // resumed the same run
      // every examined row is filled, unchanged or rejected; no_inventory rows are filled without source_ip
      expect(s.rows.scanned).toBe(s.rows.filled + s.rows.unchanged + s.rows.rejected);
      expect(s.rows.no_inventory).toBeLessThanOrEqual(s.rows.filled);
      expect(Object.values(s.rejects_by_reason as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(s.rows.rejected);
      expect(s.this_invocation.batches).toBe(s.batches - 5);
      expect(s.undo_command).toBe(`cowrie-db rollback backfill --run ${first} --db postgresql://postgres@127.0.0.1:${server.port}/${t.name}`);
      expect(s.resume_command).toBeNull();
      expect(s.after.indexes.map((i: { name: string }) => i.name)).toContain('ix_session_summaries_snapshot_ip_type');
      const [idx] = await t.sql`select indisvalid from pg_index where indexrelid = to_regclass('ix_session_summaries_snapshot_ip_type')`;
      expect(idx?.indisvalid).toBe(true);
      expect(await snapshotFingerprint(t.sql)).toEqual(expected);

      // a dry run afterwards finds nothing left to fill, and writes nothing
      const dry = await runCli(['backfill', '--db', t.url, '--dry-run', '--json', '--quiet']);
      expect(dry.code).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ dry_run: true, status: 'completed', undo_command: null, rows: { filled: 0 } });
      expect(await snapshotFingerprint(t.sql)).toEqual(expected);
    } finally {
      await t.drop();
    }
  });

  it('a dry run reports what it would change and changes nothing', async () => {
    const t = await seededDatabase(server, SESSIONS);
    try {
      const before = await snapshotFingerprint(t.sql);
      const run = await runCli(['backfill', '--db', t.url, '--dry-run', '--batch-size', '500', '--json']);
      expect(run.code).toBe(0);
      const s = JSON.parse(run.stdout);
      expect(s).toMatchObject({ dry_run: true, status: 'completed', undo_command: null });
      expect(s.rows.filled).toBeGreaterThan(SESSIONS * 0.8);
      expect(await snapshotFingerprint(t.sql)).toEqual(before);
    } finally {
      await t.drop();
    }
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} once: the batch in flight commits, the run is paused, resuming gives the uninterrupted table`, async () => {
      const t = await seededDatabase(server, SESSIONS);
      const dir = tempDir();
      try {
        const cli = startCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--pause-ms', '40', '--status-dir', dir, '--checkpoint-file', join(dir, 'checkpoint.json')]);
        await waitFor(async () => (await batchesDone(t.sql)) >= 3, 60_000, 'three batches');
        cli.child.kill(signal);
        const res = await cli.done;
        expect(res.code).toBe(signal === 'SIGINT' ? 130 : 143);
        expect(res.stderr).toContain(`${signal} received: letting the batch in flight commit`);
        const run = await runRow(t.sql);
        expect(run?.status).toBe('paused');
        expect(run?.last_error).toBeNull(); // stopped between batches, nothing cancelled
        expect(Number(run?.batches)).toBeLessThan(SESSIONS / 100);
        expect(res.stdout).toMatch(new RegExp(`backfill run ${run?.run_id} paused by ${signal}`));
        expect(res.stdout).toMatch(/resume: +cowrie-db backfill --db \S+ --batch-size 100 --status-dir \S+ --checkpoint-file \S+/);
        const status = JSON.parse(readFileSync(join(dir, `backfill_session_snapshots_${t.name}_run${run?.run_id}.json`), 'utf8'));
        expect(status).toMatchObject({ phase: 'paused', run_id: Number(run?.run_id), batches: Number(run?.batches) });
        expect(status.resume_command).toContain('cowrie-db backfill');
        const mirror = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'));
        expect(mirror.checkpoint).toMatchObject({ run_id: Number(run?.run_id), status: 'paused', last_key: run?.last_key, batches: Number(run?.batches) });

        const again = await runCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--status-dir', dir, '--checkpoint-file', join(dir, 'checkpoint.json'), '--json', '--no-indexes']);
        expect(again.code).toBe(0);
        const s = JSON.parse(again.stdout);
        expect(s).toMatchObject({ run_id: Number(run?.run_id), status: 'completed' });
        expect(again.stderr).toMatch(new RegExp(`resuming run ${run?.run_id} \\(paused`));
        expect(await snapshotFingerprint(t.sql)).toEqual(expected);
        const done = JSON.parse(readFileSync(join(dir, `backfill_session_snapshots_${t.name}_run${run?.run_id}.json`), 'utf8'));
        expect(done).toMatchObject({ phase: 'completed', resume_command: null, last_error: null });
      } finally {
        await t.drop();
      }
    });
  }

  it('Ctrl-C twice: the batch in flight is cancelled and rolls back; resuming gives the uninterrupted table', async () => {
    const t = await seededDatabase(server, SESSIONS);
    try {
      // Long CALLs with a pause after each batch: the second Ctrl-C lands inside a CALL.
      const cli = startCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--pause-ms', '300', '--call-ms', '60000']);
      await waitFor(async () => (await batchesDone(t.sql)) >= 2, 60_000, 'two batches');
      cli.child.kill('SIGINT');
      await waitFor(() => cli.stderr().includes('SIGINT received'), 10_000, 'the first SIGINT');
      cli.child.kill('SIGINT');
      const res = await cli.done;
      expect(res.code).toBe(130);
      expect(res.stderr).toContain('cancelling the batch in flight');
      const run = await runRow(t.sql);
      expect(run?.status).toBe('paused');
      expect(String(run?.last_error)).toMatch(/cancel/);
      const [active] = await t.sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'CALL backfill%' and state = 'active'`;
      expect(active?.n).toBe(0);
      const again = await runCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--json', '--no-indexes']);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ run_id: Number(run?.run_id), status: 'completed' });
      expect(await snapshotFingerprint(t.sql)).toEqual(expected);
    } finally {
      await t.drop();
    }
  });

  it('writes a 0600 status file with phase, batches, rows, rate, times and last error; status lists the runs', async () => {
    const t = await seededDatabase(server, SESSIONS);
    const dir = tempDir();
    try {
      const run = await runCli(['backfill', '--db', t.url, '--batch-size', '500', '--status-dir', join(dir, 'status'), '--checkpoint-file', join(dir, 'cp', 'snapshot_backfill.json'), '--json']);
      expect(run.code).toBe(0);
      const s = JSON.parse(run.stdout);
      const files = readdirSync(join(dir, 'status')).sort();
      expect(files).toEqual([`backfill_session_snapshots_${t.name}_run${s.run_id}.json`, `backfill_session_snapshots_${t.name}_run${s.run_id}.jsonl`]);
      for (const f of [...files.map((x) => join(dir, 'status', x)), join(dir, 'cp', 'snapshot_backfill.json')]) {
        expect((statSync(f).mode & 0o777).toString(8)).toBe('600');
      }
      const status = JSON.parse(readFileSync(join(dir, 'status', files[0]!), 'utf8'));
      expect(status).toMatchObject({
        tool: 'cowrie-db', command: 'backfill', phase: 'completed', run_id: s.run_id, dry_run: false, batches: s.batches, last_error: null,
        rows: { done: s.rows.scanned, filled: s.rows.filled, rejected: s.rows.rejected, no_inventory: s.rows.no_inventory, unchanged: s.rows.unchanged },
      });
      expect(status.rate_rows_per_s).toBeGreaterThan(0);
      expect(Date.parse(status.started_at)).toBeLessThanOrEqual(Date.parse(status.updated_at));
      expect(status.finished_at).not.toBeNull();
      // the history has one line per update, all valid JSON, phases in order
      const history = readFileSync(join(dir, 'status', files[1]!), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(history.length).toBeGreaterThanOrEqual(2);
      expect(history.at(-1)!.phase).toBe('completed');
      // no leftover temporary files
      expect(readdirSync(join(dir, 'status')).filter((f) => f.includes('.tmp'))).toEqual([]);
      const mirror = JSON.parse(readFileSync(join(dir, 'cp', 'snapshot_backfill.json'), 'utf8'));
      const [row] = await t.sql`select last_key, batches from backfill_runs where run_id = ${s.run_id}`;
      expect(mirror.checkpoint).toMatchObject({ run_id: s.run_id, status: 'completed', last_key: row?.last_key, batches: row?.batches });

      const st = await runCli(['status', '--db', t.url, '--json']);
      expect(st.code).toBe(0);
      const runs = JSON.parse(st.stdout).runs;
      expect(runs[0]).toMatchObject({ run_id: s.run_id, status: 'completed', rows_done: s.rows.scanned, resume_command: null,
        undo_command: `cowrie-db rollback backfill --run ${s.run_id} --db postgresql://postgres@127.0.0.1:${server.port}/${t.name}` });
      const text = await runCli(['status', '--db', t.url]);
      expect(text.stdout).toMatch(new RegExp(`run ${s.run_id}: completed, 100(\\.0)?%`));
      expect(text.stdout).toContain(`undo:   cowrie-db rollback backfill --run ${s.run_id}`);
    } finally {
      await t.drop();
    }
  });

  it('status shows a paused run with the command that resumes it, with the choices of its last call', async () => {
    const t = await seededDatabase(server, 1000);
    try {
      const run = await runCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--max-batches', '2', '--no-undo', '--sync-commit', '--quiet']);
      expect(run.code).toBe(0);
      const st = JSON.parse((await runCli(['status', '--db', t.url, '--json'])).stdout);
      expect(st.runs[0]).toMatchObject({ status: 'paused', batches: 2, record_undo: false, undo_command: null,
        resume_command: `cowrie-db backfill --db postgresql://postgres@127.0.0.1:${server.port}/${t.name} --no-undo --sync-commit` });
      const text = (await runCli(['status', '--db', t.url])).stdout;
      expect(text).toMatch(/paused, [\d.]+%/);
      expect(text).toContain('resume: cowrie-db backfill');
    } finally {
      await t.drop();
    }
  });

  it('no password in any output or file (--db with a password)', async () => {
    const t = await seededDatabase(server, 1000);
    const dir = tempDir();
    try {
      expect(t.url).toContain(server.password);
      const outputs: string[] = [];
      const collect = (r: { stdout: string; stderr: string }): void => void outputs.push(r.stdout, r.stderr);
      collect(await runCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--max-batches', '3', '--verbose', '--progress', '--progress-interval', '1', '--status-dir', dir, '--checkpoint-file', join(dir, 'cp.json')]));
      collect(await runCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--verbose', '--json', '--status-dir', dir, '--checkpoint-file', join(dir, 'cp.json')]));
      collect(await runCli(['status', '--db', t.url, '--verbose']));
      collect(await runCli(['status', '--db', t.url, '--json']));
      // a failure path too: an unknown run for the rollback
      collect(await runCli(['rollback', 'backfill', '--run', '999999', '--db', t.url, '--verbose']));
      // and an invalid flag with the password in the URL
      collect(await runCli(['backfill', '--db', t.url, '--batch-size', '0']));
      for (const f of readdirSync(dir)) outputs.push(readFileSync(join(dir, f), 'utf8'));
      expect(outputs.join('\n').length).toBeGreaterThan(1000);
      for (const o of outputs) {
        expect(o).not.toContain(server.password);
        expect(o).not.toContain(encodeURIComponent(server.password));
      }
      expect(outputs.join('\n')).toContain(`postgresql://postgres@127.0.0.1:${server.port}/${t.name}`);
    } finally {
      await t.drop();
    }
  });

  it('rollback backfill --run N restores exactly, leaves rows changed since alone, and counts both', async () => {
    const t = await seededDatabase(server, 1000);
    try {
      const before = await snapshotFingerprint(t.sql);
      const run = await runCli(['backfill', '--db', t.url, '--batch-size', '200', '--json', '--quiet', '--no-indexes']);
      expect(run.code).toBe(0);
      const s = JSON.parse(run.stdout);
      // someone else changes one row the run filled
      const [victim] = await t.sql`select u.session_id from backfill_undo u where u.run_id = ${s.run_id} order by u.session_id limit 1`;
      const id = String(victim!.session_id);
      const [old] = await t.sql`select old_source_ip, old_snapshot_asn, old_snapshot_country, old_snapshot_ip_type, old_enrichment_at from backfill_undo where run_id = ${s.run_id} and session_id = ${id}`;
      await t.sql`update session_summaries set snapshot_country = 'AQ' where session_id = ${id}`;

      const undo = await runCli(['rollback', 'backfill', '--run', String(s.run_id), '--db', t.url, '--json']);
      expect(undo.code).toBe(0);
      const r = JSON.parse(undo.stdout);
      expect(r).toMatchObject({ run_id: s.run_id, undo_status: 'undone', rows_left_alone: 1, rows_missing: 0 });
      const [logged] = await t.sql`select count(*)::int as n from backfill_undo where run_id = ${s.run_id}`;
      expect(r.rows_restored).toBe(logged!.n - 1);
      const [kept] = await t.sql`select snapshot_country from session_summaries where session_id = ${id}`;
      expect(kept?.snapshot_country).toBe('AQ');
      // put that one row back by hand: the rest must be exactly as before the run
      await t.sql`update session_summaries set source_ip = ${old!.old_source_ip}, snapshot_asn = ${old!.old_snapshot_asn}, snapshot_country = ${old!.old_snapshot_country},
                    snapshot_ip_type = ${old!.old_snapshot_ip_type}, enrichment_at = ${old!.old_enrichment_at} where session_id = ${id}`;
      expect(await snapshotFingerprint(t.sql)).toEqual(before);

      const text = await runCli(['rollback', 'backfill', '--run', String(s.run_id), '--db', t.url]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/rows restored to their previous values/);
      expect(text.stdout).toMatch(/1 rows left alone \(changed since by someone else\)/);
      const st = JSON.parse((await runCli(['status', '--db', t.url, '--json'])).stdout);
      expect(st.runs[0]).toMatchObject({ run_id: s.run_id, undo_status: 'undone', undo_command: null, resume_command: null });

      // a dry run and a --no-undo run cannot be undone; an unknown run is a usage error
      const dry = JSON.parse((await runCli(['backfill', '--db', t.url, '--dry-run', '--json', '--quiet'])).stdout);
      expect((await runCli(['rollback', 'backfill', '--run', String(dry.run_id), '--db', t.url])).code).toBe(64);
      expect((await runCli(['rollback', 'backfill', '--run', '99999', '--db', t.url])).code).toBe(64);
      expect((await runCli(['rollback', 'backfill', '--run', 'x', '--db', t.url])).code).toBe(64);
    } finally {
      await t.drop();
    }
  });

  it('--dry-run --json --verbose shows the run\'s sample of would-be changes (backfill_runs.sample); without --verbose it is left out', async () => {
    const t = await seededDatabase(server, 300);
    try {
      const plain = JSON.parse((await runCli(['backfill', '--db', t.url, '--dry-run', '--json', '--quiet'])).stdout);
      expect(plain.sample).toBeUndefined();
      const r = await runCli(['backfill', '--db', t.url, '--dry-run', '--json', '--verbose', '--restart']);
      expect(r.code, r.stderr).toBe(0);
      const verbose = JSON.parse(r.stdout);
      const [row] = await t.sql`select sample from backfill_runs where run_id = ${verbose.run_id}`;
      expect(Array.isArray(verbose.sample)).toBe(true);
      expect(verbose.sample.length).toBeGreaterThan(0);
      expect(verbose.sample).toEqual(row!.sample);
      expect(verbose.sample[0]).toMatchObject({ session_id: expect.any(String), new: expect.any(Object), sources: expect.any(Object) });
    } finally {
      await t.drop();
    }
  });

  it('refuses an option the installed procedure predates (an older install), before any CALL', async () => {
    const t = await seededDatabase(server, 100);
    try {
      // the procedure as installed before sync_commit existed (a stub: it must not be called)
      await t.sql.unsafe(`
        DROP PROCEDURE backfill_snapshots(integer, integer, boolean, integer, integer, boolean, boolean, boolean,
                                          integer, integer, integer, integer, boolean, boolean, boolean, boolean,
                                          integer, boolean, integer, bigint, bigint, integer, boolean, bigint, text);
        CREATE PROCEDURE backfill_snapshots(
            batch_size integer DEFAULT 2500, max_batches integer DEFAULT NULL, dry_run boolean DEFAULT false,
            pause_ms integer DEFAULT 0, target_batch_ms integer DEFAULT NULL, restart boolean DEFAULT false,
            record_undo boolean DEFAULT true, quiet boolean DEFAULT false, progress_every integer DEFAULT 10,
            min_batch_size integer DEFAULT 100, max_batch_size integer DEFAULT 50000, sweep_attempts integer DEFAULT 10,
            run_analyze boolean DEFAULT true, INOUT run_id bigint DEFAULT NULL, INOUT status text DEFAULT NULL)
        LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the older procedure was called'; END $$`);
      const run = await runCli(['backfill', '--db', t.url, '--sync-commit', '--quiet']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/predates its parameter\(s\) sync_commit .*run `cowrie-db migrate`/);
      expect(run.stderr).not.toContain('older procedure was called');
      const [runs] = await t.sql`select count(*)::int as n from backfill_runs`;
      expect(runs!.n).toBe(0);
    } finally {
      await t.drop();
    }
  });

  it('refuses a second backfill while one runs, naming the running one', async () => {
    const t = await seededDatabase(server, SESSIONS);
    try {
      const first = startCli(['backfill', '--db', t.url, '--batch-size', BATCH, '--pause-ms', '100']);
      await waitFor(async () => (await batchesDone(t.sql)) >= 1, 60_000, 'first batch');
      const second = await runCli(['backfill', '--db', t.url, '--batch-size', BATCH]);
      expect(second.code).toBe(1);
      // Issue #22 item 6: the run id, the backend pid backfill_runs records (the one executing
      // the CALL, not the runner's lock connection) and the pg_cancel_backend hint the README promises.
      const [holder] = await t.sql`select run_id, backend_pid from backfill_runs where status = 'running'`;
      expect(holder?.backend_pid).not.toBeNull();
      expect(second.stderr).toContain(`already running on this database: run ${holder!.run_id} (backend pid ${holder!.backend_pid})`);
      expect(second.stderr).toContain(`SELECT pg_cancel_backend(${holder!.backend_pid})`);
      expect(second.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
      first.child.kill('SIGINT');
      expect((await first.done).code).toBe(130);
    } finally {
      await t.drop();
    }
  });
});
