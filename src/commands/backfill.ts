// cowrie-db backfill: drive the SQL procedure backfill_snapshots to fill the ADR-007
// snapshot columns, with live progress, status files, clean interruption and resume.
// The runner holds no backfill logic: see src/backfill/loop.ts and sql/functions.
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { z } from 'zod';
import { action, commonSchema, intFlag, parseFlags, withCommonOptions } from '../cli.js';
import { openTarget, type Database } from '../db/connect.js';
import { describeTarget, resolveTarget } from '../db/target.js';
import { CliError, ExitCode, errorMessage, usageError } from '../errors.js';
import { isVerbose, log, out } from '../log.js';
import { createProgress, formatCount, formatDuration, formatRate, type ProgressDisplay } from '../progress.js';
import { getRun, rejectsByReason, requireEngine, unfinishedRun, type RunRow } from '../backfill/engine.js';
import { cliCommand, dbArgs, undoCommand } from '../backfill/describe.js';
import { StatusFile, writeJsonAtomic, type StatusDocument, type StatusPhase } from '../backfill/files.js';
import { missingParameters, runLoop, type LocalStats, type LoopOptions, type LoopResult } from '../backfill/loop.js';
import { afterCompletion, type AfterReport } from '../backfill/after.js';
import {
  ADAPTIVE_BATCH_MAX, ADAPTIVE_BATCH_MIN, BATCH_SIZE_MAX, PAUSE_MS_MAX, TARGET_BATCH_MS_MAX, TARGET_BATCH_MS_MIN, WORKERS_MAX,
} from '../backfill/bounds.js';
import { checkCheckpointFile, prepareStatusDir } from '../files/checks.js';
import { readFileBounded } from '../files/safe-write.js';

export { BATCH_SIZE_MAX };

const flagsSchema = commonSchema.extend({
  batchSize: intFlag(1, BATCH_SIZE_MAX).optional(),
  maxBatches: intFlag(1, 100_000_000).optional(),
  dryRun: z.boolean().optional().default(false),
  progress: z.boolean().optional(),
  progressInterval: intFlag(1, 3600).optional().default(10),
  statusDir: z.string().min(1, { message: 'must be a directory path' }).optional(),
  checkpointFile: z.string().min(1, { message: 'must be a file path' }).optional(),
  resume: z.boolean().optional().default(false),
  restart: z.boolean().optional().default(false),
  pauseMs: intFlag(0, PAUSE_MS_MAX).optional(),
  targetBatchMs: intFlag(TARGET_BATCH_MS_MIN, TARGET_BATCH_MS_MAX).optional(),
  undo: z.boolean().optional().default(true),
  syncCommit: z.boolean().optional().default(false),
  recheckRejects: z.boolean().optional().default(false),
  recheckAll: z.boolean().optional().default(false),
  lockTimeoutMs: intFlag(100, 600_000).optional().default(5000),
  retries: intFlag(0, 100).optional().default(5),
  retryDelayMs: intFlag(10, 60_000).optional().default(1000),
  callMs: intFlag(50, 600_000).optional().default(2000),
  workers: intFlag(1, WORKERS_MAX).optional().default(1),
  throttle: z.boolean().optional().default(true),
  throttleReplicaLagMs: intFlag(0, 86_400_000).optional(),
  throttleReplicaLagBytes: intFlag(0, Number.MAX_SAFE_INTEGER).optional(),
  throttleWalBytesPerSec: intFlag(0, Number.MAX_SAFE_INTEGER).optional(),
  throttleXminAgeMs: intFlag(0, 86_400_000).optional(),
  throttleOnVacuum: z.boolean().optional(),
  indexes: z.boolean().optional().default(true),
});

export type Flags = z.infer<typeof flagsSchema>;

export function backfillCommand(): Command {
  const cmd = new Command('backfill')
    .description('fill the ADR-007 snapshot columns with the SQL procedure backfill_snapshots (resumes the unfinished run by default)')
    .option('--batch-size <n>', `sessions per batch, 1-${formatCount(BATCH_SIZE_MAX)} (default: the procedure's, 2500; on resume: the run's)`)
    .option('--max-batches <n>', 'stop after this many batches in this invocation (the run stays resumable)')
    .option('--dry-run', 'compute exactly what a run would change (counts, rejects, a sample) and write nothing to the sessions')
    .option('--progress', 'show progress: a live bar on a terminal, else a plain line every --progress-interval seconds (the default unless --quiet)')
    .option('--no-progress', 'no progress display (the summary is still printed)')
    .option('--progress-interval <seconds>', 'without a terminal: seconds between progress lines, 1-3600', '10')
    .option('--status-dir <dir>', 'write a JSON status file there (backfill_session_snapshots_<db>_run<N>.json, mode 0600, replaced atomically); created 0700 if missing; refused if writable by group or others')
    .option('--checkpoint-file <file>', 'keep a JSON mirror of the in-database checkpoint in this file (the database stays the source of truth); an existing file that is not such a mirror is refused, never replaced')
    .option('--resume', 'resume the unfinished run (the default; accepted for the runbooks)')
    .option('--restart', 'abandon the unfinished run and start a new one from the first session')
    .option('--pause-ms <ms>', `sleep between batches, 0-${PAUSE_MS_MAX} ms (to leave room for live traffic)`)
    .option('--target-batch-ms <ms>', `adapt the batch size to take about this long, ${TARGET_BATCH_MS_MIN}-${TARGET_BATCH_MS_MAX} ms (with it, --batch-size must be ${ADAPTIVE_BATCH_MIN}-${formatCount(ADAPTIVE_BATCH_MAX)})`)
    .option('--no-undo', 'do not record the undo log (faster; `rollback backfill` is then impossible for this run)')
    .option('--sync-commit', 'make each batch COMMIT wait for its WAL flush (default: it does not; a crash can then undo only whole last batches, redone on resume)')
    .option('--recheck-rejects', 'a new run looks at every rejected session again (by default a run skips the sessions an earlier run decided, until their row or their IP\'s inventory row changes)')
    .option('--recheck-all', 'a new run looks at every session with a NULL snapshot column again, as a first run does')
    .option('--lock-timeout-ms <ms>', 'lock_timeout of the backfill connection, 100-600000 ms', '5000')
    .option('--retries <n>', 'after a lost connection, retry this many times with back-off (0-100)', '5')
    .option('--retry-delay-ms <ms>', 'first back-off delay, doubled each retry (10-60000)', '1000')
    .option('--workers <n>', `CALLs that work the run together, each on its own connection, over disjoint key ranges (1-${WORKERS_MAX}; about one per core the server can spare; the result is the same whatever the number)`, '1')
    .option('--no-throttle', 'do not pause on database-health signals (replication lag, WAL rate, a long transaction holding back xmin, VACUUM of session_summaries)')
    .option('--throttle-replica-lag-ms <ms>', 'pause while a standby replays more than this far behind (0: off; default: SELECT * FROM backfill_throttle_defaults())')
    .option('--throttle-replica-lag-bytes <n>', 'pause while a standby has more than this many bytes of WAL not replayed (0: off; default: backfill_throttle_defaults())')
    .option('--throttle-wal-bytes-per-sec <n>', 'pause while WAL is written faster than this (0: off; default: backfill_throttle_defaults())')
    .option('--throttle-xmin-age-ms <ms>', 'pause while another transaction open longer than this holds back the xmin horizon (0: off; default: backfill_throttle_defaults())')
    .option('--no-throttle-on-vacuum', 'do not pause while a VACUUM works on session_summaries')
    .option('--call-ms <ms>', 'aim for CALLs of about this long: several batches per CALL, fewer round trips (50-600000)', '2000')
    .option('--no-indexes', 'after a completed run, do not build the missing snapshot indexes');
  withCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 completed (or --max-batches reached), 1 error (or another backfill runs),
3 could not connect (or lost the connection for good) or the role lacks a privilege,
64 bad flags or files (a --status-dir that is a file, not writable or writable by others;
a --checkpoint-file that exists and is not a checkpoint mirror), 130 paused by Ctrl-C,
143 paused by SIGTERM.
Ctrl-C once: the batch in flight commits, the run is left resumable. Twice: the batch
in flight is cancelled (it rolls back). Run the same command again to resume.
Incremental: once a run has completed, the next one looks only at sessions inserted or
updated since, and at those whose IP got an ip_inventory row (or a changed one) since;
rejects again only with --recheck-rejects. Schedule it (cron, systemd timer, pg_cron)
and watch it with \`cowrie-db monitor\` (docs/psql.md, "After the backfill").`,
  );
  return cmd.action(action(async (raw) => backfill(parseFlags(flagsSchema, raw))));
}

function progressEnabled(flags: Flags): boolean {
  if (flags.progress !== undefined) return flags.progress;
  return !flags.quiet;
}

function resumeWords(flags: Flags, db: Database): string[] {
  const words = ['backfill', ...dbArgs(db.target)];
  if (flags.batchSize !== undefined) words.push('--batch-size', String(flags.batchSize));
  if (flags.dryRun) words.push('--dry-run');
  if (!flags.undo) words.push('--no-undo');
  if (flags.syncCommit) words.push('--sync-commit');
  if (flags.statusDir) words.push('--status-dir', flags.statusDir);
  if (flags.checkpointFile) words.push('--checkpoint-file', flags.checkpointFile);
  if (flags.pauseMs !== undefined) words.push('--pause-ms', String(flags.pauseMs));
  if (flags.targetBatchMs !== undefined) words.push('--target-batch-ms', String(flags.targetBatchMs));
  return words;
}

export interface BackfillSummary {
  run_id: number | null;
  status: string | null;
  stopped: string;
  exit_code: number;
  dry_run: boolean;
  database: string;
  rows: {
    total_est: number | null;
    scanned: number;
    filled: number;
    unchanged: number;
    rejected: number;
    no_inventory: number;
    deferred: number;
  };
  rejects_by_reason: Record<string, number>;
  batches: number;
  this_invocation: { batches: number; rows: number; calls: number; seconds: number; rows_per_s: number | null; retries: number; max_rss_mb: number };
  run_seconds: number | null;
  rows_per_s: number | null;
  record_undo: boolean | null;
  undo_command: string | null;
  resume_command: string | null;
  status_file: string | null;
  checkpoint_file: string | null;
  after: AfterReport | null;
  sample?: unknown;
}

async function backfill(flags: Flags): Promise<number> {
  if (flags.resume && flags.restart) throw usageError('--resume and --restart exclude each other (resuming is the default)');
  if (flags.quiet && flags.verbose) throw usageError('--quiet and --verbose exclude each other');
  if (flags.targetBatchMs !== undefined && flags.batchSize !== undefined && (flags.batchSize < ADAPTIVE_BATCH_MIN || flags.batchSize > ADAPTIVE_BATCH_MAX)) {
    throw usageError(`--batch-size: with --target-batch-ms it must be an integer from ${ADAPTIVE_BATCH_MIN} to ${ADAPTIVE_BATCH_MAX} (the range the batch size adapts in)`);
  }

  const target = resolveTarget(flags.db);
  if (target.kind === 'sqlite') {
    const { backfillSqliteTarget } = await import('./backfill-sqlite.js');
    return backfillSqliteTarget(target.path, flags);
  }
  // The files this run will write: checked before connecting, so that a bad path costs nothing.
  if (flags.statusDir) prepareStatusDir(flags.statusDir);
  if (flags.checkpointFile) checkCheckpointFile(flags.checkpointFile);
  const db = await openTarget(target);
  log.info(`database: ${db.label}`);
  const loopOptions: LoopOptions = {
    batchSize: flags.batchSize,
    maxBatches: flags.maxBatches,
    dryRun: flags.dryRun,
    pauseMs: flags.pauseMs,
    targetBatchMs: flags.targetBatchMs,
    restart: flags.restart,
    recordUndo: flags.undo,
    syncCommit: flags.syncCommit,
    recheckRejects: flags.recheckRejects,
    recheckAll: flags.recheckAll,
    workers: flags.workers,
    throttle: {
      enabled: flags.throttle,
      replicaLagMs: flags.throttleReplicaLagMs,
      replicaLagBytes: flags.throttleReplicaLagBytes,
      walBytesPerSec: flags.throttleWalBytesPerSec,
      xminAgeMs: flags.throttleXminAgeMs,
      onVacuum: flags.throttleOnVacuum === false ? false : undefined,
    },
    notices: isVerbose(),
    lockTimeoutMs: flags.lockTimeoutMs,
    retries: flags.retries,
    retryDelayMs: flags.retryDelayMs,
    callTargetMs: flags.callMs,
    pollMs: 1000,
    procedureArgs: await requireEngine(db.sql),
  };
  const missing = missingParameters(loopOptions);
  if (missing.length > 0) {
    throw new CliError(
      `the installed backfill_snapshots predates its parameter(s) ${missing.join(', ')} that this command needs: run \`cowrie-db migrate\` to update the SQL objects`,
      ExitCode.error,
    );
  }

  const progress: ProgressDisplay = createProgress({ enabled: progressEnabled(flags), intervalMs: flags.progressInterval * 1000 });
  const say = (line: string): void => {
    if (!flags.quiet) progress.message(line);
  };
  const database = db.target.database;
  const statusFile = flags.statusDir ? new StatusFile(flags.statusDir, database) : undefined;
  const resumeCommand = cliCommand(resumeWords(flags, db));
  const startedIso = new Date().toISOString();

  // What we are about to do.
  const pending = flags.restart ? undefined : await unfinishedRun(db.sql, flags.dryRun);
  if (pending) {
    say(`resuming ${pending.dry_run ? 'dry-run ' : ''}run ${pending.run_id} (${pending.status}, ${formatCount(pending.rows_scanned)} rows and ${formatCount(pending.batches)} batches done, started ${pending.started_at})`);
    checkMirror(flags, pending);
  } else {
    if (flags.resume) say('--resume: no unfinished run to resume; starting a new run');
    say(flags.dryRun ? 'starting a dry run (nothing is written to session_summaries)' : flags.restart ? 'starting a new run from the first session (--restart)' : 'starting a new run');
  }

  let lastStatusWrite = 0;
  let lastError: string | null = null;
  let lastRun: RunRow | undefined = pending;
  let lastLocal: LocalStats | undefined;

  const statusDoc = (phase: StatusPhase, run: RunRow | undefined, local: LocalStats | undefined, finished = false): StatusDocument => {
    const done = run ? run.rows_scanned : 0;
    const total = run?.rows_total_est ?? null;
    const rate = local?.rate ?? null;
    const eta = run?.eta_seconds ?? null;
    return {
      tool: 'cowrie-db',
      command: 'backfill',
      phase,
      database,
      run_id: run?.run_id ?? null,
      dry_run: flags.dryRun,
      batches: run?.batches ?? 0,
      batch_size: run?.batch_size ?? flags.batchSize ?? null,
      rows: {
        done,
        total,
        filled: run?.rows_filled ?? 0,
        rejected: run?.rows_rejected ?? 0,
        no_inventory: run?.rows_no_inventory ?? 0,
        unchanged: run?.rows_unchanged ?? 0,
      },
      rate_rows_per_s: rate === null ? null : Math.round(rate),
      eta_s: eta === null ? null : Math.round(eta),
      percent: total ? Math.min(100, Math.round((1000 * done) / total) / 10) : null,
      started_at: startedIso,
      updated_at: new Date().toISOString(),
      finished_at: finished ? new Date().toISOString() : null,
      last_error: lastError,
      pid: process.pid,
      resume_command: phase === 'completed' ? null : resumeCommand,
    };
  };

  const writeStatus = (phase: StatusPhase, force: boolean): void => {
    if (!statusFile) return;
    const now = Date.now();
    if (!force && now - lastStatusWrite < 500) return;
    lastStatusWrite = now;
    try {
      statusFile.write(statusDoc(phase, lastRun, lastLocal, ['completed', 'paused', 'failed', 'stopped'].includes(phase)));
    } catch (err) {
      log.warn(`cannot write the status file in ${flags.statusDir}: ${errorMessage(err)}`);
    }
  };

  const writeMirror = (run: RunRow): void => {
    if (!flags.checkpointFile) return;
    try {
      writeJsonAtomic(flags.checkpointFile, {
        tool: 'cowrie-db',
        note: 'mirror of backfill_runs (the database is the source of truth); resume with the command below',
        database,
        checkpoint: run,
        resume_command: run.status === 'completed' ? null : resumeCommand,
        written_at: new Date().toISOString(),
      });
    } catch (err) {
      log.warn(`cannot write the checkpoint file ${flags.checkpointFile}: ${errorMessage(err)}`);
    }
  };

  writeStatus(pending ? 'running' : 'starting', true);

  let result: LoopResult | undefined;
  let failure: unknown;
  try {
    result = await runLoop(
      db,
      { ...loopOptions, resuming: pending },
      {
        progress(run, local) {
          lastRun = run;
          lastLocal = local;
          const done = run.rows_scanned;
          const total = run.rows_total_est ?? undefined;
          const eta = run.eta_seconds ?? undefined;
          progress.update({
            label: flags.dryRun ? 'dry-run' : 'backfill',
            runId: run.run_id,
            done,
            total,
            rate: local.rate,
            etaSeconds: eta,
            rejects: run.rows_rejected,
            batches: run.batches,
            batchSize: run.batch_size ?? undefined,
          });
          lastError = null;
          writeStatus(run.status === 'completed' ? 'completed' : 'running', run.status === 'completed');
          writeMirror(run);
        },
        message: say,
        notice(line, severity) {
          if (isVerbose() || (severity !== 'NOTICE' && severity !== 'INFO' && severity !== 'DEBUG' && severity !== 'LOG')) progress.message(line);
        },
        phase(phase, run, error) {
          if (run) lastRun = run;
          if (error) lastError = error;
          writeStatus(phase, true);
        },
      },
    );
  } catch (err) {
    failure = err;
  }
  progress.stop();

  const run = result?.run ?? lastRun;
  const local = result?.local ?? lastLocal;
  const reason = result?.reason ?? 'failed';
  let code: number = ExitCode.ok;
  if (failure) {
    lastError = errorMessage(failure);
    code = failure instanceof CliError ? failure.exitCode : ExitCode.error;
  } else if (reason === 'SIGINT') code = ExitCode.sigint;
  else if (reason === 'SIGTERM') code = ExitCode.sigterm;
  else if (reason === 'failed') code = ExitCode.error;

  // Re-read the run: the final truth is the database's.
  let final = run;
  if (run) final = (await getRun(db.sql, run.run_id).catch(() => undefined)) ?? run;

  // After a completed real run: the snapshot indexes (CONCURRENTLY) and ANALYZE.
  let after: AfterReport | null = null;
  if (!failure && reason === 'completed' && final && final.status === 'completed' && !flags.dryRun) {
    writeStatus('indexing', true);
    try {
      after = await afterCompletion(db, { indexes: flags.indexes, say, lockTimeoutMs: flags.lockTimeoutMs });
    } catch (err) {
      lastError = errorMessage(err);
      log.warn(`the run completed, but building the snapshot indexes / ANALYZE failed: ${lastError}`);
    }
  }

  const phase =
    failure || reason === 'failed' ? 'failed' : reason === 'completed' ? 'completed' : reason === 'max-batches' ? 'stopped' : 'paused';
  if (final) lastRun = final;
  writeStatus(phase, true);
  if (final) writeMirror(final);

  const summary: BackfillSummary = await buildSummary(db, flags, final, local, reason, code, after, resumeCommand, statusFile?.file ?? null);
  if (flags.json) out(JSON.stringify(summary));
  else if (!flags.quiet || code !== ExitCode.ok) printSummary(summary);

  if (failure) throw failure;
  if (reason === 'failed' && result?.error) {
    log.error(`run ${final?.run_id ?? '?'} stopped: ${result.error}`);
  }
  return code;
}

function checkMirror(flags: Flags, pending: RunRow): void {
  if (!flags.checkpointFile || !existsSync(flags.checkpointFile)) return;
  try {
    const doc = JSON.parse(readFileBounded(flags.checkpointFile, 1 << 20, { noFollow: true })) as { checkpoint?: { run_id?: number; last_key?: string | null } };
    const id = doc.checkpoint?.run_id;
    if (id !== undefined && id !== pending.run_id) {
      log.warn(`--checkpoint-file names run ${id}, the database's unfinished run is ${pending.run_id}: the database wins`);
    } else if (doc.checkpoint?.last_key !== pending.last_key) {
      log.verbose(`checkpoint file is behind the database (last key ${doc.checkpoint?.last_key ?? 'none'} vs ${pending.last_key ?? 'none'}): the database wins`);
    }
  } catch (err) {
    log.warn(`cannot read --checkpoint-file ${flags.checkpointFile} (${errorMessage(err)}): the database's checkpoint is used`);
  }
}

async function buildSummary(
  db: Database, flags: Flags, run: RunRow | undefined, local: LocalStats | undefined, reason: string, code: number,
  after: AfterReport | null, resumeCommand: string, statusFile: string | null,
): Promise<BackfillSummary> {
  const seconds = local ? (Date.now() - local.startedAt) / 1000 : 0;
  const rejects = run ? await rejectsByReason(db.sql, run.run_id).catch(() => ({})) : {};
  const runSeconds = run ? run.elapsed_ms / 1000 : null;
  return {
    run_id: run?.run_id ?? null,
    status: run?.status ?? null,
    stopped: reason,
    exit_code: code,
    dry_run: flags.dryRun,
    database: describeTarget(db.target),
    rows: {
      total_est: run?.rows_total_est ?? null,
      scanned: run?.rows_scanned ?? 0,
      filled: run?.rows_filled ?? 0,
      unchanged: run?.rows_unchanged ?? 0,
      rejected: run?.rows_rejected ?? 0,
      no_inventory: run?.rows_no_inventory ?? 0,
      deferred: run?.rows_deferred ?? 0,
    },
    rejects_by_reason: rejects,
    batches: run?.batches ?? 0,
    this_invocation: {
      batches: local?.batches ?? 0,
      rows: local?.rows ?? 0,
      calls: local?.calls ?? 0,
      seconds: Math.round(seconds * 1000) / 1000,
      rows_per_s: local?.rate !== undefined ? Math.round(local.rate) : null,
      retries: local?.retries ?? 0,
      // peak resident memory of this process (kB on Linux)
      max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    },
    run_seconds: runSeconds === null ? null : Math.round(runSeconds * 1000) / 1000,
    rows_per_s: run && runSeconds ? Math.round(run.rows_scanned / runSeconds) : null,
    record_undo: run?.record_undo ?? null,
    undo_command: run && !run.dry_run && run.record_undo && run.rows_filled > 0 ? undoCommand(db.target, run.run_id) : null,
    resume_command: run && (run.status === 'running' || run.status === 'paused') ? resumeCommand : null,
    status_file: statusFile,
    checkpoint_file: flags.checkpointFile ?? null,
    after,
    ...(run?.dry_run && flags.verbose ? { sample: run.sample } : {}),
  };
}

function printSummary(s: BackfillSummary): void {
  const lines: string[] = [];
  const what = s.dry_run ? 'dry run' : 'backfill';
  const head =
    s.stopped === 'completed' ? `${what} run ${s.run_id} completed`
    : s.stopped === 'max-batches' ? `${what} run ${s.run_id} stopped after --max-batches (resumable)`
    : s.stopped === 'SIGINT' || s.stopped === 'SIGTERM' ? `${what} run ${s.run_id ?? '?'} paused by ${s.stopped}`
    : s.run_id === null ? `${what} did not start`
    : `${what} run ${s.run_id} did not finish`;
  lines.push(head);
  const r = s.rows;
  lines.push(`  rows:     ${formatCount(r.scanned)} looked at${r.total_est !== null ? ` of ~${formatCount(r.total_est)}` : ''}`);
  lines.push(`            ${formatCount(r.filled)} ${s.dry_run ? 'would be filled' : 'filled'} (${formatCount(r.no_inventory)} of them without an ip_inventory row: source_ip left NULL), ${formatCount(r.unchanged)} unchanged, ${formatCount(r.rejected)} rejected${r.deferred ? `, ${formatCount(r.deferred)} deferred (locked by others)` : ''}`);
  const reasons = Object.entries(s.rejects_by_reason);
  if (reasons.length) lines.push(`  rejects:  ${reasons.map(([k, v]) => `${k} ${formatCount(v)}`).join(', ')}`);
  lines.push(`  batches:  ${formatCount(s.batches)} in the run, ${formatCount(s.this_invocation.batches)} now (${formatCount(s.this_invocation.calls)} CALLs)`);
  lines.push(`  time:     ${formatDuration(s.this_invocation.seconds)} now, ${formatRate(s.this_invocation.rows_per_s ?? undefined)}; run total ${formatDuration(s.run_seconds ?? undefined)} in batches`);
  if (s.after) {
    if (s.after.indexes.length) lines.push(`  indexes:  built ${s.after.indexes.map((i) => `${i.name} (${formatDuration(i.ms / 1000)})`).join(', ')}`);
    if (s.after.vacuumMs !== undefined) lines.push(`  vacuum:   session_summaries (${formatDuration(s.after.vacuumMs / 1000)})`);
    for (const st of s.after.skipped) lines.push(`  index still needed (--no-indexes; run it outside a transaction): ${st};`);
  }
  if (s.status_file) lines.push(`  status:   ${s.status_file}`);
  if (s.checkpoint_file) lines.push(`  checkpoint mirror: ${s.checkpoint_file}`);
  if (s.resume_command) lines.push(`  resume:   ${s.resume_command}`);
  if (s.undo_command) lines.push(`  undo:     ${s.undo_command}`);
  else if (s.record_undo === false && !s.dry_run) lines.push('  undo:     not recorded (--no-undo)');
  // The summary is the result: stdout. Progress and messages went to stderr.
  out(lines.join('\n'));
}
