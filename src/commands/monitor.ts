// cowrie-db monitor: the post-backfill health check for cron and monitoring systems.
// The figures and the state come from the SQL function backfill_monitor() (one source
// of truth, the same row psql users read); this file only passes the thresholds,
// formats the row (a plugin-style line, --json, a node_exporter textfile) and exits
// with the state's code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, lstatSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { action, commonSchema, parseFlags, withCommonOptions } from '../cli.js';
import { monitorInstalled, monitorRow } from '../backfill/engine.js';
import { openDatabase } from '../db/connect.js';
import { redact } from '../db/redact.js';
import { errorMessage } from '../errors.js';
import { log, out } from '../log.js';
import { isoOrNull, numberOrNull } from '../db/values.js';

export const MonitorExit = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;

const pct = z.coerce
  .number({ message: 'must be a percentage from 0 to 100' })
  .refine((n) => Number.isFinite(n) && n >= 0 && n <= 100, { message: 'must be a percentage from 0 to 100' });
const seconds = z.coerce
  .number({ message: 'must be a number of seconds (0 or more)' })
  .refine((n) => Number.isFinite(n) && n >= 0, { message: 'must be a number of seconds (0 or more)' });

const flagsSchema = commonSchema.extend({
  warning: pct.optional().default(95),
  critical: pct.optional().default(90),
  pendingWarning: seconds.optional().default(3600),
  pendingCritical: seconds.optional().default(21600),
  runWarning: seconds.optional().default(86400),
  since: z.string().optional(),
  record: z.boolean().optional().default(true),
  prometheus: z.string().min(1, { message: 'must be a file path' }).optional(),
});

export interface MonitorReport {
  state: 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
  exit_code: number;
  reasons: string[];
  checked_at: string | null;
  sessions_total: number | null;
  sessions_with_snapshot: number | null;
  coverage_pct: number | null;
  sessions_without_snapshot: number | null;
  oldest_without_snapshot_at: string | null;
  sessions_open: number | null;
  sessions_pending: number | null;
  oldest_pending_at: string | null;
  oldest_pending_age_s: number | null;
  last_run_id: number | null;
  last_run_status: string | null;
  last_run_at: string | null;
  last_run_age_s: number | null;
  last_run_error: string | null;
  last_completed_at: string | null;
  last_completed_age_s: number | null;
  rejects_since: string | null;
  rejects_total: number | null;
  rejects_by_reason: Record<string, number>;
  thresholds: { warning_pct: number; critical_pct: number; pending_warning_s: number; pending_critical_s: number; run_warning_s: number | null };
}

export function monitorCommand(): Command {
  const cmd = new Command('monitor')
    .description('check the snapshot coverage after the backfill, for cron and monitoring systems (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)')
    .option('--warning <pct>', 'WARNING when coverage is below this percentage (default 95, the runbooks\')', '95')
    .option('--critical <pct>', 'CRITICAL when coverage is below this percentage (default 90, the runbooks\')', '90')
    .option('--pending-warning <seconds>', 'WARNING when a session has waited longer than this for a backfill run (default 3600)', '3600')
    .option('--pending-critical <seconds>', 'CRITICAL when a session has waited longer than this: new sessions are not getting snapshots (default 21600)', '21600')
    .option('--run-warning <seconds>', 'WARNING when no backfill run completed within this many seconds; 0: not checked (default 86400)', '86400')
    .option('--since <timestamp>', 'count rejects recorded after this time (default: since the last recorded check)')
    .option('--no-record', 'do not record this check (the next one then counts rejects from the same point)')
    .option('--prometheus <file>', 'also write the figures in the node_exporter textfile format to this file (replaced atomically; a .prom name in the textfile directory)');
  withCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
The figures and the state come from the SQL function backfill_monitor(), which psql users
can call with the same thresholds:
  SELECT state, reasons, coverage_pct, sessions_pending FROM backfill_monitor(95, 90);
Coverage = sessions with snapshot_country set / all sessions (the runbooks' count).
"Pending" = sessions no backfill run has looked at yet in their current version (new or
changed rows, or rows whose IP got an inventory row since): an old one means new sessions
are not getting snapshots (the schedule does not run, or fails).
Exit codes (monitoring-plugin convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the
database cannot be read, the engine is not installed, bad flags, no sessions).
Example (cron, daily at 06:00):  cowrie-db monitor --db "$DATABASE_URL" --prometheus /var/lib/node_exporter/textfile/cowrie_snapshots.prom`,
  );
  return cmd.action(action(async (raw) => monitor(raw)));
}

async function monitor(raw: Record<string, unknown>): Promise<number> {
  const json = raw.json === true;
  let flags: z.infer<typeof flagsSchema> | undefined;
  try {
    flags = parseFlags(flagsSchema, raw);
    if (flags.critical > flags.warning) throw new Error('--critical must not be above --warning');
    if (flags.pendingCritical < flags.pendingWarning) throw new Error('--pending-critical must not be below --pending-warning');
    if (flags.since !== undefined && Number.isNaN(Date.parse(flags.since))) throw new Error(`--since: not a timestamp: ${flags.since}`);
    const db = await openDatabase(flags.db);
    log.verbose(`database: ${db.label}`);
    if (!(await monitorInstalled(db.sql))) throw new Error('the backfill engine is not installed in this database (no function backfill_monitor): run `cowrie-db migrate` first');
    const row = await monitorRow(db.sql, {
      warningPct: flags.warning, criticalPct: flags.critical, pendingWarningS: flags.pendingWarning,
      pendingCriticalS: flags.pendingCritical, runWarningS: flags.runWarning, since: flags.since ?? null, record: flags.record,
    });
    const report = toReport(row, flags);
    emit(report, flags, json);
    return report.exit_code;
  } catch (err) {
    const message = redact(errorMessage(err));
    const report = unknownReport(message, flags);
    if (flags?.prometheus) {
      try {
        writePrometheus(flags.prometheus, report);
      } catch (e) {
        log.error(`--prometheus: ${errorMessage(e)}`);
      }
    }
    if (json) out(JSON.stringify(report, null, 2));
    else out(`SNAPSHOTS UNKNOWN - ${message}`);
    return MonitorExit.unknown;
  }
}

function thresholds(flags: z.infer<typeof flagsSchema> | undefined): MonitorReport['thresholds'] {
  return {
    warning_pct: flags?.warning ?? 95,
    critical_pct: flags?.critical ?? 90,
    pending_warning_s: flags?.pendingWarning ?? 3600,
    pending_critical_s: flags?.pendingCritical ?? 21600,
    run_warning_s: flags && flags.runWarning > 0 ? flags.runWarning : null,
  };
}

function toReport(r: Record<string, unknown>, flags: z.infer<typeof flagsSchema>): MonitorReport {
  const byReason: Record<string, number> = {};
  for (const [k, v] of Object.entries((r.rejects_by_reason ?? {}) as Record<string, unknown>)) byReason[k] = Number(v);
  return {
    state: String(r.state) as MonitorReport['state'],
    exit_code: Number(r.exit_code),
    reasons: (r.reasons as string[] | null) ?? [],
    checked_at: isoOrNull(r.checked_at),
    sessions_total: numberOrNull(r.sessions_total),
    sessions_with_snapshot: numberOrNull(r.sessions_with_snapshot),
    coverage_pct: numberOrNull(r.coverage_pct),
    sessions_without_snapshot: numberOrNull(r.sessions_without_snapshot),
    oldest_without_snapshot_at: isoOrNull(r.oldest_without_snapshot_at),
    sessions_open: numberOrNull(r.sessions_open),
    sessions_pending: numberOrNull(r.sessions_pending),
    oldest_pending_at: isoOrNull(r.oldest_pending_at),
    oldest_pending_age_s: numberOrNull(r.oldest_pending_age_s),
    last_run_id: numberOrNull(r.last_run_id),
    last_run_status: r.last_run_status === null || r.last_run_status === undefined ? null : String(r.last_run_status),
    last_run_at: isoOrNull(r.last_run_at),
    last_run_age_s: numberOrNull(r.last_run_age_s),
    last_run_error: r.last_run_error === null || r.last_run_error === undefined ? null : String(r.last_run_error),
    last_completed_at: isoOrNull(r.last_completed_at),
    last_completed_age_s: numberOrNull(r.last_completed_age_s),
    rejects_since: isoOrNull(r.rejects_since),
    rejects_total: numberOrNull(r.rejects_total),
    rejects_by_reason: byReason,
    thresholds: thresholds(flags),
  };
}

function unknownReport(message: string, flags: z.infer<typeof flagsSchema> | undefined): MonitorReport {
  return {
    state: 'UNKNOWN', exit_code: MonitorExit.unknown, reasons: [message], checked_at: new Date().toISOString(),
    sessions_total: null, sessions_with_snapshot: null, coverage_pct: null, sessions_without_snapshot: null,
    oldest_without_snapshot_at: null, sessions_open: null, sessions_pending: null, oldest_pending_at: null,
    oldest_pending_age_s: null, last_run_id: null, last_run_status: null, last_run_at: null, last_run_age_s: null,
    last_run_error: null, last_completed_at: null, last_completed_age_s: null, rejects_since: null,
    rejects_total: null, rejects_by_reason: {}, thresholds: thresholds(flags),
  };
}

const age = (s: number | null): string => {
  if (s === null) return '-';
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
};

function emit(r: MonitorReport, flags: z.infer<typeof flagsSchema>, json: boolean): void {
  if (flags.prometheus) writePrometheus(flags.prometheus, r);
  if (json) {
    out(JSON.stringify(r, null, 2));
    return;
  }
  // plugin style: status line with perfdata, then details
  const rejects = Object.entries(r.rejects_by_reason).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const head = r.reasons.length ? r.reasons.join('; ') : `coverage ${r.coverage_pct ?? '-'}%`;
  out(
    `SNAPSHOTS ${r.state} - ${head} | coverage=${r.coverage_pct ?? ''}%;${r.thresholds.warning_pct}:;${r.thresholds.critical_pct}:;0;100 ` +
      `pending=${r.sessions_pending ?? ''} oldest_pending_age=${r.oldest_pending_age_s === null ? 0 : r.oldest_pending_age_s.toFixed(0)}s;` +
      `${r.thresholds.pending_warning_s};${r.thresholds.pending_critical_s} without_snapshot=${r.sessions_without_snapshot ?? ''}`,
  );
  out(`coverage:            ${r.coverage_pct ?? '-'}% (${r.sessions_with_snapshot ?? '-'} of ${r.sessions_total ?? '-'} sessions)`);
  out(`without snapshot:    ${r.sessions_without_snapshot ?? '-'} (oldest created ${r.oldest_without_snapshot_at ?? '-'})`);
  out(`waiting for a run:   ${r.sessions_pending ?? '-'} (oldest ${age(r.oldest_pending_age_s)})`);
  out(`last run:            ${r.last_run_id === null ? 'none' : `${r.last_run_id} ${r.last_run_status}, ${age(r.last_run_age_s)} ago`}${r.last_run_error ? ` (${r.last_run_error})` : ''}`);
  out(`last completed run:  ${r.last_completed_at === null ? 'none' : `${age(r.last_completed_age_s)} ago`}`);
  out(`rejects since ${r.rejects_since ?? 'the start'}: ${r.rejects_total ?? 0} (${rejects})`);
}

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** The node_exporter textfile format (text exposition format 0.0.4). */
export function prometheusText(r: MonitorReport): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: 'gauge', samples: [string, number | null][]): void => {
    const present = samples.filter(([, v]) => v !== null && Number.isFinite(v));
    if (present.length === 0) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of present) lines.push(`${name}${labels} ${v}`);
  };
  const states = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];
  metric('cowrie_snapshot_monitor_state', 'State of the check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.', 'gauge', [['', r.exit_code]]);
  metric('cowrie_snapshot_monitor_status', '1 for the current state of the check.', 'gauge',
    states.map((s) => [`{state="${s}"}`, r.state === s ? 1 : 0]));
  metric('cowrie_snapshot_coverage_ratio', 'Sessions with snapshot_country set / all sessions.', 'gauge',
    [['', r.coverage_pct === null ? null : r.coverage_pct / 100]]);
  metric('cowrie_snapshot_sessions', 'Sessions by snapshot state.', 'gauge', [
    ['{state="total"}', r.sessions_total],
    ['{state="with_snapshot"}', r.sessions_with_snapshot],
    ['{state="without_snapshot"}', r.sessions_without_snapshot],
    ['{state="open"}', r.sessions_open],
    ['{state="pending"}', r.sessions_pending],
  ]);
  metric('cowrie_snapshot_oldest_pending_age_seconds', 'Age of the oldest session no backfill run has looked at yet (0: none).', 'gauge',
    [['', r.sessions_total === null ? null : (r.oldest_pending_age_s ?? 0)]]);
  metric('cowrie_snapshot_last_run_age_seconds', 'Seconds since the latest real backfill run last changed.', 'gauge', [['', r.last_run_age_s]]);
  metric('cowrie_snapshot_last_completed_run_age_seconds', 'Seconds since the latest completed backfill run finished.', 'gauge', [['', r.last_completed_age_s]]);
  if (r.last_run_status !== null) {
    metric('cowrie_snapshot_last_run_status', '1 for the status of the latest real backfill run.', 'gauge',
      [[`{status="${esc(r.last_run_status)}"}`, 1]]);
  }
  metric('cowrie_snapshot_rejects_since_last_check', 'Rejects recorded by backfill runs since the previous check, by reason.', 'gauge',
    Object.entries(r.rejects_by_reason).map(([k, v]) => [`{reason="${esc(k)}"}`, v] as [string, number]));
  metric('cowrie_snapshot_monitor_timestamp_seconds', 'When this check ran (Unix time).', 'gauge',
    [['', r.checked_at === null ? null : Math.round(Date.parse(r.checked_at) / 1000)]]);
  return lines.join('\n') + '\n';
}

/**
 * Replaces `file` atomically: the text goes to a new temporary file in the same
 * directory, created exclusively (O_EXCL, O_NOFOLLOW: never an existing file or a
 * symlink someone placed there), flushed, then renamed over `file`. A rename replaces
 * a symlink at `file` itself and never writes through it; node_exporter reads only
 * *.prom files, so it never sees the temporary one.
 */
export function writePrometheus(file: string, r: MonitorReport): void {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, prometheusText(r));
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw new Error(`${file} is a directory`);
    renameSync(tmp, file);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
}
