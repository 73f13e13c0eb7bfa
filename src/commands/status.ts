// cowrie-db status: the backfill runs of a database (the backfill_progress view),
// their state, and the command that resumes or undoes each one.
import { Command } from 'commander';
import { action, commonSchema, intFlag, parseFlags, withCommonOptions } from '../cli.js';
import { openDatabase } from '../db/connect.js';
import { cliCommand, dbArgs, undoCommand } from '../backfill/describe.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import { log, out } from '../log.js';
import { formatCount, formatDuration } from '../progress.js';
import { countOf, isoOrNull, numberOrNull } from '../db/values.js';
import { progressInstalled, progressRows } from '../backfill/engine.js';

/** backfill_progress statuses of a run that is unfinished but not the one a plain CALL resumes. */
const SUPERSEDED_WHEN = ['paused', 'failed', 'interrupted'];

const flagsSchema = commonSchema.extend({
  limit: intFlag(1, 100_000).optional().default(20),
  run: intFlag(1, Number.MAX_SAFE_INTEGER).optional(),
});

export interface RunStatus {
  run_id: number;
  status: string;
  dry_run: boolean;
  phase: string;
  batches: number;
  batch_size: number | null;
  rows_done: number;
  rows_total_est: number | null;
  pct_done: number | null;
  rows_filled: number;
  rows_unchanged: number;
  rows_rejected: number;
  rows_no_inventory: number;
  rows_deferred: number;
  rows_per_sec: number | null;
  eta_seconds: number | null;
  busy_seconds: number | null;
  backend_pid: number | null;
  started_at: string | null;
  updated_at: string | null;
  finished_at: string | null;
  last_error: string | null;
  record_undo: boolean;
  undo_status: string | null;
  undo_restored: number;
  undo_left_alone: number;
  /** What to do next with this run (a command), or null. */
  resume_command: string | null;
  undo_command: string | null;
  note: string | null;
}

export function statusCommand(): Command {
  const cmd = new Command('status')
    .description('list the backfill runs (the backfill_progress view): state, progress, and how to resume or undo each')
    .option('--limit <n>', 'show at most this many runs, newest first (1-100000)', '20')
    .option('--run <id>', 'only this run (exit 64 when there is no such run)');
  withCommonOptions(cmd);
  cmd.addHelpText('after', '\nExit codes: 0, 1 engine not installed, 3 could not connect or the role lacks a privilege, 64 bad flags or no such --run.');
  return cmd.action(
    action(async (raw) => {
      const flags = parseFlags(flagsSchema, raw);
      const db = await openDatabase(flags.db);
      log.verbose(`database: ${db.label}`);
      if (!(await progressInstalled(db.sql))) {
        throw new CliError('the backfill engine is not installed in this database (no view backfill_progress or function backfill_resumable_run / backfill_undo_state): run `cowrie-db migrate` first', ExitCode.error);
      }
      const rows = await progressRows(db.sql, flags.run, flags.limit);
      // Which run resumes and which can be undone are SQL's answers (backfill_resumable_run,
      // backfill_undo_state); the ETA is the view's.
      const runs: RunStatus[] = rows.map((r) => {
        const id = countOf(r.run_id);
        const dry = Boolean(r.dry_run);
        const status = String(r.status);
        let note: string | null = null;
        let resume: string | null = null;
        if (status === 'running') note = `running now (backend pid ${r.backend_pid ?? '?'})`;
        else if (r.resumable) resume = cliCommand(['backfill', ...dbArgs(db.target), ...(dry ? ['--dry-run'] : []), ...(r.record_undo === false && !dry ? ['--no-undo'] : []), ...(r.sync_commit && !dry ? ['--sync-commit'] : [])]);
        else if (SUPERSEDED_WHEN.includes(status) && r.undo_status === null) note = 'superseded by a newer run; resume from psql: CALL backfill_snapshots(run_id => ' + id + (dry ? ', dry_run => true' : '') + ')';
        return {
          run_id: id,
          status,
          dry_run: dry,
          phase: String(r.phase),
          batches: countOf(r.batches),
          batch_size: numberOrNull(r.batch_size),
          rows_done: countOf(r.rows_done),
          rows_total_est: numberOrNull(r.rows_total_est),
          pct_done: numberOrNull(r.pct_done),
          rows_filled: countOf(r.rows_filled),
          rows_unchanged: countOf(r.rows_unchanged),
          rows_rejected: countOf(r.rows_rejected),
          rows_no_inventory: countOf(r.rows_no_inventory),
          rows_deferred: countOf(r.rows_deferred),
          rows_per_sec: numberOrNull(r.rows_per_sec),
          eta_seconds: numberOrNull(r.eta_s),
          busy_seconds: numberOrNull(r.busy_s),
          backend_pid: numberOrNull(r.backend_pid),
          started_at: isoOrNull(r.started_at),
          updated_at: isoOrNull(r.updated_at),
          finished_at: isoOrNull(r.finished_at),
          last_error: (r.last_error as string | null) ?? null,
          record_undo: Boolean(r.record_undo),
          undo_status: (r.undo_status as string | null) ?? null,
          undo_restored: countOf(r.undo_restored),
          undo_left_alone: countOf(r.undo_left_alone),
          resume_command: resume,
          undo_command: r.can_undo ? undoCommand(db.target, id) : null,
          note,
        };
      });
      if (runs.length === 0 && flags.run !== undefined) {
        throw usageError(`--run: there is no backfill run ${flags.run} (see \`cowrie-db status\`)`);
      }
      if (flags.json) {
        out(JSON.stringify({ database: db.label, runs }));
        return;
      }
      if (runs.length === 0) {
        out('no backfill run yet: start one with ' + cliCommand(['backfill', ...dbArgs(db.target)]));
        return;
      }
      const lines: string[] = [];
      for (const r of runs) {
        const pct = r.pct_done !== null ? `${r.pct_done}%` : '?%';
        const state = r.undo_status ? `${r.status}, ${r.undo_status}` : r.status;
        lines.push(`run ${r.run_id}${r.dry_run ? ' (dry run)' : ''}: ${state}, ${pct}, ${formatCount(r.rows_done)}/${r.rows_total_est !== null ? formatCount(r.rows_total_est) : '?'} rows, ${formatCount(r.batches)} batches, started ${r.started_at ?? '?'}`);
        lines.push(`    ${formatCount(r.rows_filled)} ${r.dry_run ? 'would be filled' : 'filled'} (${formatCount(r.rows_no_inventory)} without inventory row), ${formatCount(r.rows_unchanged)} unchanged, ${formatCount(r.rows_rejected)} rejected${r.rows_deferred ? `, ${formatCount(r.rows_deferred)} deferred` : ''}; ${r.rows_per_sec !== null ? `${formatCount(r.rows_per_sec)} rows/s` : '? rows/s'}${r.eta_seconds !== null && r.status !== 'completed' ? `, ETA ${formatDuration(r.eta_seconds)}` : ''}`);
        if (r.undo_status) lines.push(`    undo: ${formatCount(r.undo_restored)} restored, ${formatCount(r.undo_left_alone)} left alone (changed since by others)`);
        if (r.last_error) lines.push(`    last error: ${r.last_error}`);
        if (r.note) lines.push(`    ${r.note}`);
        if (r.resume_command) lines.push(`    resume: ${r.resume_command}`);
        if (r.undo_command) lines.push(`    undo:   ${r.undo_command}`);
      }
      out(lines.join('\n'));
    }),
  );
}
