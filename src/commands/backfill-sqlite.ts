// `cowrie-db backfill --db sqlite:<file>`: the same backfill semantics on the minimal
// SQLite path (src/sqlite). What only PostgreSQL has is refused with a clear error.
import { setInterruptHandler } from '../lifecycle.js';
import { ExitCode } from '../errors.js';
import { log, out } from '../log.js';
import { backfillSqlite } from '../sqlite/backfill.js';
import { sqliteUnsupported } from '../sqlite/open.js';
import type { Flags } from './backfill.js';

export async function backfillSqliteTarget(path: string, flags: Flags): Promise<number> {
  const unsupported: [boolean, string][] = [
    [flags.targetBatchMs !== undefined, '--target-batch-ms (adaptive batch size)'],
    [flags.statusDir !== undefined, '--status-dir'],
    [flags.checkpointFile !== undefined, '--checkpoint-file (the checkpoint is the backfill_runs table in the file)'],
  ];
  const refused = unsupported.find(([given]) => given);
  if (refused) throw sqliteUnsupported(refused[1], path);
  if (flags.undo) log.info('note: undo recording is PostgreSQL-only; this SQLite run keeps no undo log');

  const controller = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  setInterruptHandler((signal) => {
    if (signalled) process.exit(signal === 'SIGINT' ? ExitCode.sigint : ExitCode.sigterm);
    signalled = signal;
    log.info(`\n${signal}: finishing the batch in flight, then pausing (again to stop at once)`);
    controller.abort();
  });
  const every = flags.progress === false || flags.quiet ? 0 : 10;
  try {
    const summary = await backfillSqlite(path, {
      batchSize: flags.batchSize,
      maxBatches: flags.maxBatches,
      dryRun: flags.dryRun,
      restart: flags.restart,
      pauseMs: flags.pauseMs,
      signal: controller.signal,
      onBatch: (batches, rows) => {
        if (every && batches % every === 0) log.info(`batch ${batches}: ${rows.filled} filled, ${rows.rejected} rejected`);
      },
    });
    if (flags.json) out(JSON.stringify(summary));
    else {
      out(`${summary.dryRun ? 'dry run' : `run ${summary.runId}`} on sqlite:${path}: ${summary.status} after ${summary.batches} batch(es)`);
      out(`sessions: ${Object.entries(summary.rows).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      const rejects = Object.entries(summary.rejects);
      if (rejects.length) out(`rejects: ${rejects.map(([k, v]) => `${k} ${v}`).join(', ')}`);
      if (summary.status === 'paused') out(`resume with: cowrie-db backfill --db sqlite:${path}`);
    }
    if (summary.stoppedBy === 'signal') return signalled === 'SIGTERM' ? ExitCode.sigterm : ExitCode.sigint;
    return ExitCode.ok;
  } finally {
    setInterruptHandler(undefined);
  }
}
