// cowrie-db rollback <what>: undo what cowrie-db did. Each kind of rollback is one
// subcommand built by a function in ROLLBACKS below; adding one (e.g. the schema
// rollbacks of sql/rollback) is one function plus one entry in that list.
//
//   rollback backfill --run N   undo_backfill(N): restore exactly the previous values
//                               of exactly the rows run N changed; rows changed since
//                               by others are left alone and counted.
//   rollback snapshot-ip-type-rename   sql/rollback/undo_snapshot_ip_type_rename.sql
//   rollback v16-to-v15 --yes          sql/rollback/v16_to_v15.sql, then forget the
//                                      v16 migrations so that migrate does not redo them.
import { Command } from 'commander';
import type postgres from 'postgres';
import { z } from 'zod';
import { action, commonSchema, intFlag, parseFlags, withCommonOptions } from '../cli.js';
import { openDatabase } from '../db/connect.js';
import { MIGRATIONS_TABLE } from '../db/migrate.js';
import { sqlFiles } from '../db/sqlfiles.js';
import { redact } from '../db/redact.js';
import { backendPid, callUndo, cancelBackend, undoCounts, undoInstalled, undoState, type UndoState } from '../backfill/engine.js';
import { CliError, databaseErrorLine, ExitCode, errorMessage, exitCodeFor, usageError } from '../errors.js';
import { setInterruptHandler } from '../lifecycle.js';
import { log, out } from '../log.js';
import { formatCount, formatDuration } from '../progress.js';

/** The rollback subcommands, in help order. */
const ROLLBACKS: (() => Command)[] = [backfillRollback, renameRollback, v16Rollback];

export function rollbackCommand(): Command {
  const cmd = new Command('rollback').description('undo what cowrie-db did (see the subcommands)');
  for (const make of ROLLBACKS) cmd.addCommand(make().exitOverride(exitForUsage));
  return cmd;
}

/** Nested subcommands: commander's usage errors exit 64, help and version 0. */
function exitForUsage(err: { exitCode: number; code: string }): never {
  process.exit(err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 64);
}

const backfillSchema = commonSchema.extend({
  run: intFlag(1, Number.MAX_SAFE_INTEGER),
  batchSize: intFlag(1, 1_000_000).optional(),
  lockTimeoutMs: intFlag(100, 600_000).optional().default(5000),
});

function backfillRollback(): Command {
  const cmd = new Command('backfill')
    .description('undo backfill run N: restore the previous values of exactly the rows it changed (rows changed since by others are left alone)')
    .requiredOption('--run <id>', 'the run to undo (see `cowrie-db status`)')
    .option('--batch-size <n>', 'rows restored per batch (1-1000000; default: the procedure\'s, 5000)')
    .option('--lock-timeout-ms <ms>', 'lock_timeout of the undo connection', '5000');
  withCommonOptions(cmd);
  return cmd.action(
    action(async (raw) => {
      const flags = parseFlags(backfillSchema, raw);
      const db = await openDatabase(flags.db);
      log.info(`database: ${db.label}`);
      if (!(await undoInstalled(db.sql))) throw new CliError('undo_backfill is not installed in this database: run `cowrie-db migrate` first', ExitCode.error);
      // Whether it can start is backfill_undo_state's answer (undo_backfill refuses the same way).
      const state = await undoState(db.sql, flags.run);
      const refusal = refusalOf(flags.run, state);
      if (refusal) throw refusal;

      // The undo commits in batches when it is a procedure: CALL it alone on a dedicated connection.
      const conn = db.connect({
        max: 1,
        settings: { statement_timeout: '0', lock_timeout: `${flags.lockTimeoutMs}ms` },
        onnotice: (n) => (flags.verbose ? log.info(`${n.severity ?? 'NOTICE'}: ${n.message}`) : undefined),
      });
      let signalled: NodeJS.Signals | undefined;
      let pid: number | undefined;
      setInterruptHandler((signal) => {
        if (signalled) return;
        signalled = signal;
        log.info(`${signal} received: cancelling the undo (what it committed stays; run the same command again to finish it)`);
        if (pid !== undefined) void cancelBackend(db.sql, pid).catch(() => undefined);
      });
      const t0 = Date.now();
      try {
        pid = await backendPid(conn);
        await callUndo(conn, flags.run, !flags.verbose, flags.batchSize);
      } catch (err) {
        if (signalled) {
          log.error(`undo of run ${flags.run} interrupted: ${redact(errorMessage(err))}`);
          return signalled === 'SIGTERM' ? ExitCode.sigterm : ExitCode.sigint;
        }
        throw new CliError(`undo of run ${flags.run} failed: ${redact(databaseErrorLine(err))}`, exitCodeFor(err));
      } finally {
        setInterruptHandler(undefined);
        await conn.end({ timeout: 5 }).catch(() => undefined);
      }
      const after = await undoCounts(db.sql, flags.run);
      const report = {
        run_id: flags.run,
        undo_status: after.undo_status,
        rows_restored: after.restored,
        rows_left_alone: after.left_alone,
        rows_missing: after.missing,
        seconds: Math.round(Date.now() - t0) / 1000,
      };
      if (flags.json) out(JSON.stringify(report));
      else {
        out(`run ${flags.run}: ${report.undo_status ?? 'undo not finished'} in ${formatDuration(report.seconds)}`);
        out(`  ${formatCount(report.rows_restored)} rows restored to their previous values`);
        out(`  ${formatCount(report.rows_left_alone)} rows left alone (changed since by someone else)`);
        if (report.rows_missing) out(`  ${formatCount(report.rows_missing)} rows no longer exist (deleted since)`);
      }
      if (report.undo_status !== 'undone') {
        log.error(`run ${flags.run}: some rows stayed locked by other transactions; the undo is not finished: run the same command again to finish it`);
        return ExitCode.error;
      }
      return ExitCode.ok;
    }),
  );
}

/** The CLI's error for a run backfill_undo_state says undo_backfill would refuse; undefined when it would start. */
function refusalOf(runId: number, state: UndoState): CliError | undefined {
  switch (state.reason) {
    case 'missing': return usageError(`--run: there is no backfill run ${runId} (see \`cowrie-db status\`)`);
    case 'dry_run': return usageError(`--run: run ${runId} is a dry run: it changed nothing, there is nothing to undo`);
    case 'no_undo_log': return new CliError(`run ${runId} was made with --no-undo: no undo log was recorded, it cannot be undone exactly`, ExitCode.error);
    default:
      return state.refused_sqlstate ? new CliError(`run ${runId} cannot be undone now: ${state.message}${state.hint ? ` (${state.hint})` : ''}`, ExitCode.error) : undefined;
  }
}

const scriptSchema = commonSchema.extend({ yes: z.boolean().optional().default(false) });

/**
 * Runs a sql/rollback script in one transaction (it ends with its own verify step),
 * plus `after` in the same transaction.
 */
async function runRollbackScript(dbFlag: string | undefined, file: string, after?: (tx: postgres.TransactionSql) => Promise<void>): Promise<string[]> {
  const script = sqlFiles('rollback').find((f) => f.name === file);
  if (!script) throw new CliError(`sql/rollback/${file} is missing from this installation`, ExitCode.error);
  const db = await openDatabase(dbFlag);
  log.info(`database: ${db.label}`);
  const messages: string[] = [];
  try {
    await db.sql.begin(async (tx) => {
      const results = (await tx.unsafe(script.text).simple()) as unknown as postgres.Row[][];
      for (const rows of Array.isArray(results[0]) ? results : [results as unknown as postgres.Row[]]) {
        for (const row of rows) messages.push(Object.values(row).map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(' | '));
      }
      if (after) await after(tx);
    });
  } catch (err) {
    const e = err as { message: string; detail?: string; hint?: string };
    throw new CliError(redact(`rollback ${file} failed, nothing was changed: ${e.message}${e.detail ? `\n  ${e.detail}` : ''}${e.hint ? `\n  hint: ${e.hint}` : ''}`), exitCodeFor(err));
  }
  return messages;
}

function renameRollback(): Command {
  const cmd = new Command('snapshot-ip-type-rename').description(
    'undo the snapshot_ip_type alignment: back to the plural snapshot_ip_types (its original type; verified afterwards)',
  );
  withCommonOptions(cmd);
  return cmd.action(
    action(async (raw) => {
      const flags = parseFlags(commonSchema, raw);
      const messages = await runRollbackScript(flags.db, 'undo_snapshot_ip_type_rename.sql');
      if (flags.json) out(JSON.stringify({ rolledBack: 'snapshot-ip-type-rename', messages }));
      else for (const m of messages) out(m);
    }),
  );
}

function v16Rollback(): Command {
  const cmd = new Command('v16-to-v15')
    .description('take the v16 three-tier schema back to v15, keeping every session row and its enrichment (drops the inventory tables and snapshot columns)')
    .option('--yes', 'confirm: this drops asn_inventory, ip_inventory, ip_asn_history and the snapshot columns');
  withCommonOptions(cmd);
  return cmd.action(
    action(async (raw) => {
      const flags = parseFlags(scriptSchema, raw);
      if (!flags.yes) throw usageError('v16-to-v15 drops the v16 tables and snapshot columns: add --yes to confirm');
      const messages = await runRollbackScript(flags.db, 'v16_to_v15.sql', async (tx) => {
        // Keep v15: forget the migrations from 002 on, so `migrate` would apply them afresh.
        const [exists] = await tx`select to_regclass(${MIGRATIONS_TABLE}) is not null as ok`;
        if (exists?.ok) await tx.unsafe(`delete from ${MIGRATIONS_TABLE} where name >= '002'`);
      });
      if (flags.json) out(JSON.stringify({ rolledBack: 'v16-to-v15', messages }));
      else {
        for (const m of messages) out(m);
        out('schema is v15 again; `cowrie-db migrate` would apply v16 afresh');
      }
    }),
  );
}
