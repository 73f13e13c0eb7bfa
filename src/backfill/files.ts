// Files the backfill writes for monitoring: the status file in --status-dir and the
// --checkpoint-file mirror of the in-database checkpoint. Both are written
// atomically (an exclusive temporary file of unguessable name in the same directory,
// then rename; see src/files/safe-write.ts), mode 0600, as one line of JSON plus a
// newline, redacted structurally: no secret ever reaches them. The database stays
// the source of truth; these are mirrors.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { redactedJson } from '../db/redact.js';
import { errorMessage } from '../errors.js';
import { appendFileSafe, writeFileAtomic } from '../files/safe-write.js';

/** Write `value` as JSON to `path` atomically, readable only by its owner. */
export function writeJsonAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, redactedJson(value) + '\n');
}

/** Append one JSON line to `path` (created 0600; never through a planted link). */
export function appendJsonLine(path: string, value: unknown): void {
  appendFileSafe(path, redactedJson(value) + '\n');
}

/** Characters safe in a file name; the rest become '_'. */
export function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80) || 'db';
}

/**
 * The status file of a run: <status-dir>/backfill_session_snapshots_<database>_run<N>.json,
 * so that the runbooks' `tail -F .../backfill_session_snapshots_*.json` (or `watch cat`)
 * follows it. Next to it, <same name>.jsonl gets one line per update (a history
 * that plain `tail -f` can follow, since the .json file is replaced on each write).
 */
export function statusFilePath(statusDir: string, database: string, runId: number | undefined): string {
  const run = runId === undefined ? 'starting' : `run${runId}`;
  return join(statusDir, `backfill_session_snapshots_${fileSafe(database)}_${run}.json`);
}

/** The phases `cowrie-db backfill` writes to its status file (docs/runner.md). */
export type StatusPhase = 'starting' | 'running' | 'reconnecting' | 'indexing' | 'completed' | 'paused' | 'stopped' | 'failed';

export interface StatusDocument {
  tool: 'cowrie-db';
  command: 'backfill';
  phase: StatusPhase;
  database: string;
  run_id: number | null;
  dry_run: boolean;
  batches: number;
  batch_size: number | null;
  rows: {
    done: number;
    total: number | null;
    filled: number;
    rejected: number;
    no_inventory: number;
    unchanged: number;
  };
  rate_rows_per_s: number | null;
  eta_s: number | null;
  percent: number | null;
  started_at: string;
  updated_at: string;
  finished_at: string | null;
  last_error: string | null;
  pid: number;
  resume_command: string | null;
}

export class StatusFile {
  private path: string | undefined;
  private readonly starting: string;
  /** The history was refused once (a planted link ...): not tried again, not warned again. */
  private historyRefused = false;
  constructor(
    private readonly statusDir: string,
    private readonly database: string,
  ) {
    mkdirSync(statusDir, { recursive: true, mode: 0o700 });
    this.starting = statusFilePath(statusDir, database, undefined);
  }

  get file(): string | undefined {
    return this.path;
  }

  write(doc: StatusDocument): void {
    const path = statusFilePath(this.statusDir, this.database, doc.run_id ?? undefined);
    if (path !== this.path) {
      // The run id became known: the 'starting' placeholder gives way to the run's file.
      if (this.path === this.starting && path !== this.starting) {
        rmSync(this.starting, { force: true });
        rmSync(this.starting + 'l', { force: true });
      }
      this.path = path;
    }
    writeJsonAtomic(path, doc);
    if (this.historyRefused) return;
    try {
      appendJsonLine(path + 'l', doc);
    } catch (err) {
      this.historyRefused = true;
      throw new Error(`${errorMessage(err)} (the history is not written for the rest of this run)`);
    }
  }
}
