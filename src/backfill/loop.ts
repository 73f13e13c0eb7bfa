// The call loop: CALL backfill_snapshots(...) again and again on a dedicated
// connection, a few batches per CALL (max_batches), and between CALLs read the
// run's checkpoint row to report progress, write the monitoring files and stop
// cleanly when asked. No backfill logic here: the procedure picks the rows,
// commits every batch with its checkpoint, and resumes the run on the next CALL
// (the first CALL resumes the unfinished run or starts one; later CALLs name it
// with run_id => N, the procedure's INOUT parameter). With workers > 1, once the
// first CALL has named the run, workers - 1 more connections CALL it the same way
// (workers => N lets them join it); the procedure gives each its own key ranges.
import type { Database } from '../db/connect.js';
import { redact } from '../db/redact.js';
import { CliError, databaseErrorLine, ExitCode, errorMessage, exitCodeFor } from '../errors.js';
import { adaptiveStart } from './bounds.js';
import { setInterruptHandler } from '../lifecycle.js';
import type { StatusPhase } from './files.js';
import {
  backendPid, callStatement, cancelBackend, getRun, isConnectionLoss, QUERY_CANCELED, runningRun, takeRunnerLock, type CallParams, type RunRow,
} from './engine.js';

export interface ThrottleOptions {
  enabled: boolean;
  replicaLagMs?: number;
  replicaLagBytes?: number;
  walBytesPerSec?: number;
  xminAgeMs?: number;
  onVacuum?: boolean;
}

export interface LoopOptions {
  batchSize?: number;
  /** Batches for this invocation (undefined: until the run completes). */
  maxBatches?: number;
  dryRun: boolean;
  pauseMs?: number;
  targetBatchMs?: number;
  restart: boolean;
  recordUndo: boolean;
  /** Each batch's COMMIT waits for its WAL flush (the procedure's sync_commit). */
  syncCommit: boolean;
  /** The new run looks at every reject again (procedure's recheck_rejects). */
  recheckRejects?: boolean;
  /** The new run looks at every open session again (procedure's recheck_all). */
  recheckAll?: boolean;
  /** Connections that CALL the run together (the procedure's workers). */
  workers: number;
  /** The procedure's throttle and throttle_* thresholds (undefined: its defaults). */
  throttle: ThrottleOptions;
  /** Forward the procedure's NOTICE lines (else quiet => true). */
  notices: boolean;
  /** lock_timeout for the CALL connection (the procedure sets its own per batch). */
  lockTimeoutMs: number;
  /** How many times to retry after a lost connection before giving up. */
  retries: number;
  /** First back-off delay; doubles each retry (capped at 30 s). */
  retryDelayMs: number;
  /** Aim for CALLs of about this long (more batches per CALL = less overhead). */
  callTargetMs: number;
  /** While a CALL runs, read the run's counters this often for the display. */
  pollMs: number;
  /** Parameter names the installed procedure has (from pg_proc; see missingParameters). */
  procedureArgs: string[];
  /** The run the first CALL will resume (for the counts "done before this invocation"). */
  resuming?: RunRow;
}

export type StopReason = 'completed' | 'max-batches' | 'SIGINT' | 'SIGTERM' | 'failed';

export interface LoopEvents {
  /** After every CALL. */
  progress(run: RunRow, local: LocalStats): void;
  /** A line for the person watching (through the progress display). */
  message(line: string): void;
  /** A NOTICE or WARNING from the procedure. */
  notice(line: string, severity: string): void;
  /** reconnecting, failed, ... (for the status file). */
  phase(phase: StatusPhase, run: RunRow | undefined, error?: string): void;
}

export interface LocalStats {
  /** When this invocation started (ms since epoch). */
  startedAt: number;
  /** Rows / batches the run had done before this invocation. */
  rowsAtStart: number;
  batchesAtStart: number;
  /** Rows / batches done in this invocation. */
  rows: number;
  batches: number;
  calls: number;
  /** Batches asked for in the last CALL. */
  batchesPerCall: number;
  /** Rows per second in this invocation (wall clock). */
  rate: number | undefined;
  retries: number;
}

export interface LoopResult {
  run: RunRow | undefined;
  reason: StopReason;
  local: LocalStats;
  /** When the run could not finish: why. */
  error?: string;
}

const sleep = (ms: number, signal: { aborted: boolean }): Promise<void> =>
  new Promise((resolve) => {
    const end = Date.now() + ms;
    const tick = (): void => {
      if (signal.aborted || Date.now() >= end) resolve();
      else setTimeout(tick, Math.min(100, end - Date.now()));
    };
    tick();
  });

interface CallState {
  batchSize: number | undefined;
  /** max_batches of this CALL. */
  batches: number | undefined;
  /** The run, once the first CALL has named it. */
  runId: number | undefined;
}

/** The CALL's named arguments for these options in this state (left out: the procedure's defaults). */
function callParams(options: LoopOptions, state: CallState): CallParams {
  const p: CallParams = {};
  const set = <K extends keyof CallParams>(k: K, v: CallParams[K]): void => {
    if (v !== undefined) p[k] = v;
  };
  set('batch_size', state.batchSize);
  set('max_batches', state.batches);
  set('dry_run', options.dryRun || undefined);
  set('pause_ms', options.pauseMs);
  set('target_batch_ms', options.targetBatchMs);
  set('restart', options.restart && state.runId === undefined ? true : undefined);
  set('record_undo', options.recordUndo ? undefined : false);
  set('sync_commit', options.syncCommit || undefined);
  // only the CALL that starts the run (later ones resume it by run_id)
  set('recheck_rejects', options.recheckRejects && state.runId === undefined ? true : undefined);
  set('recheck_all', options.recheckAll && state.runId === undefined ? true : undefined);
  set('quiet', options.notices ? undefined : true);
  set('workers', options.workers > 1 ? options.workers : undefined);
  set('throttle', options.throttle.enabled ? undefined : false);
  set('throttle_replica_lag_ms', options.throttle.replicaLagMs);
  set('throttle_replica_lag_bytes', options.throttle.replicaLagBytes);
  set('throttle_wal_bytes_per_sec', options.throttle.walBytesPerSec);
  set('throttle_xmin_age_ms', options.throttle.xminAgeMs);
  set('throttle_on_vacuum', options.throttle.onVacuum);
  set('run_id', state.runId);
  return p;
}

/**
 * The parameters the CALLs for these options would pass that the installed procedure
 * lacks (an install older than this runner). Check before running: a CALL cannot
 * leave one out without running with the procedure's default instead.
 */
export function missingParameters(options: LoopOptions): string[] {
  const supported = new Set(options.procedureArgs);
  // the first CALL (restart, no run_id) and the next ones (run_id)
  const passed = [undefined, 1].flatMap((runId) => Object.keys(callParams(options, { batchSize: 1, batches: 1, runId })));
  return [...new Set(passed)].filter((k) => !supported.has(k));
}

/** Give up after this many CALLs in a row that did nothing (rows locked by others). */
const MAX_IDLE_CALLS = 3;

export async function runLoop(db: Database, options: LoopOptions, events: LoopEvents): Promise<LoopResult> {
  const interrupt = { signal: undefined as NodeJS.Signals | undefined, aborted: false, cancelled: false };
  let inFlight: InFlight | undefined;
  /** The other workers' CALLs in flight. */
  const extraInFlight = new Set<InFlight>();

  const cancelInFlight = async (): Promise<void> => {
    if (interrupt.cancelled || (!inFlight && extraInFlight.size === 0)) return;
    interrupt.cancelled = true;
    await Promise.all([...(inFlight ? [inFlight] : []), ...extraInFlight].map((f) => cancelCall(db, f)));
  };

  setInterruptHandler((signal) => {
    if (!interrupt.signal) {
      interrupt.signal = signal;
      interrupt.aborted = true;
      events.message(
        `${signal} received: letting the batch in flight commit, then pausing the run` +
          (signal === 'SIGINT' ? ' (Ctrl-C again cancels the batch in flight)' : ` (${signal} again cancels the batch in flight)`),
      );
      return;
    }
    if ((inFlight || extraInFlight.size > 0) && !interrupt.cancelled) {
      events.message(`${signal} received again: cancelling the batch in flight (it rolls back)`);
      void cancelInFlight();
    }
  });

  // The procedure holds its advisory lock only during a CALL; between two CALLs of this
  // loop another runner could slip in. A runner-level lock (backfill_advisory_lock_class(), key 2) on a
  // connection of its own keeps two `cowrie-db backfill` processes apart for their lifetime.
  const guard = db.connect({ max: 1, onnotice: () => undefined });
  try {
    if (!(await takeRunnerLock(guard))) {
      throw new CliError(await alreadyRunning(db), ExitCode.error);
    }
  } catch (err) {
    setInterruptHandler(undefined);
    await guard.end({ timeout: 1 }).catch(() => undefined);
    throw err;
  }

  const call = callConnection(db, options, events);
  const extras: Promise<string | undefined>[] = [];
  const shared: SharedState = { runId: undefined, batchSize: undefined, perCall: 1, stop: false };

  const resuming = options.restart ? undefined : options.resuming;
  const local: LocalStats = {
    startedAt: Date.now(), rowsAtStart: resuming ? resuming.rows_scanned : 0, batchesAtStart: resuming?.batches ?? 0,
    rows: 0, batches: 0, calls: 0, batchesPerCall: 1, rate: undefined, retries: 0,
  };
  let run: RunRow | undefined = resuming;
  let runId: number | undefined;
  let reason: StopReason = 'completed';
  let error: string | undefined;
  let failures = 0;
  let lostConnection = false;
  let idleCalls = 0;
  // Batch size: the flag, else (resuming) the run's current one, else the procedure's default.
  let batchSize = options.batchSize ?? resuming?.batch_size ?? undefined;
  // An adaptive run must start inside the procedure's range (the flag was checked; a resumed run's size may lie outside).
  if (options.targetBatchMs !== undefined && batchSize !== undefined) batchSize = adaptiveStart(batchSize);

  const params = (batches: number | undefined): CallParams => callParams(options, { batchSize, batches, runId });
  let othersGoOn = false;

  const account = (r: RunRow): void => {
    local.batches = Math.max(0, r.batches - local.batchesAtStart);
    local.rows = Math.max(0, r.rows_scanned - local.rowsAtStart);
    const secs = (Date.now() - local.startedAt) / 1000;
    local.rate = secs > 0 ? local.rows / secs : undefined;
  };

  const stopReason = (): StopReason => (interrupt.signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');

  try {
    // CALLs of about callTargetMs: the first does one batch, the next ones are sized
    // from the time per batch so far.
    let perCall = 1;
    for (;;) {
      if (interrupt.aborted) {
        reason = stopReason();
        break;
      }
      let ask = perCall;
      if (options.maxBatches !== undefined) {
        const left = options.maxBatches - local.batches;
        if (left <= 0) {
          reason = 'max-batches';
          break;
        }
        ask = Math.min(ask, left);
      }
      local.batchesPerCall = ask;
      if (othersGoOn) break; // this worker's part is done; the others finish the run
      if (run?.status === 'completed' && runId !== undefined) {
        reason = 'completed';
        break;
      }
      const { text, values } = callStatement(params(ask));
      const t0 = Date.now();
      const batchesBefore = run?.batches ?? 0;
      let returned: { run_id?: unknown; status?: unknown } | undefined;
      try {
        const pid = await backendPid(call);
        if (interrupt.aborted) continue; // a signal came meanwhile: no new CALL
        const query = call.unsafe(text, values);
        inFlight = { pid, query };
        // While a CALL works (several batches), every batch commits its counters: read
        // them from the main connection once a second, so the display stays live.
        let polling = false;
        const poller = runId === undefined ? undefined : setInterval(() => {
          if (polling || runId === undefined) return;
          polling = true;
          getRun(db.sql, runId)
            .then((r) => {
              if (r && inFlight && r.batches !== run?.batches) {
                run = r;
                account(r);
                events.progress(r, local);
              }
            })
            .catch(() => undefined)
            .finally(() => (polling = false));
        }, options.pollMs);
        let rows: { run_id?: unknown; status?: unknown }[];
        try {
          rows = (await query) as unknown as { run_id?: unknown; status?: unknown }[];
        } finally {
          if (poller) clearInterval(poller);
        }
        inFlight = undefined;
        returned = rows[0];
        local.calls++;
        const id = Number(returned?.run_id);
        if (!Number.isFinite(id) || id <= 0) throw new CliError('backfill_snapshots returned no run id', ExitCode.error);
        if (runId === undefined && resuming && id !== resuming.run_id) {
          // The procedure started another run than the one we saw (e.g. it was finished meanwhile).
          local.rowsAtStart = 0;
          local.batchesAtStart = 0;
        }
        runId = id;
        shared.runId = id;
        if (String(returned?.status) === 'running') othersGoOn = true;
        // the other workers join once the run is named (and is not complete already)
        if (extras.length === 0 && options.workers > 1 && String(returned?.status) !== 'completed') {
          for (let w = 2; w <= options.workers; w++) {
            extras.push(extraWorker(db, options, shared, interrupt, extraInFlight, events));
          }
        }
        // Read inside the try: losing the connection here is retried like a lost CALL.
        const fresh = await getRun(db.sql, id);
        if (!fresh) throw new CliError(`run ${id} is not in backfill_runs after the CALL`, ExitCode.error);
        run = fresh;
        failures = 0;
        lostConnection = false;
      } catch (err) {
        if (err instanceof CliError) throw err;
        const e = err as { code?: string; message?: string };
        if (runId !== undefined && runCompletedMeanwhile(err)) {
          // another worker completed the run between two of this worker's CALLs
          run = (await getRun(db.sql, runId).catch(() => undefined)) ?? run;
          reason = 'completed';
          break;
        }
        if (e.code === QUERY_CANCELED && interrupt.aborted) {
          // Second Ctrl-C: the batch in flight rolled back; the run is paused at its last commit.
          reason = stopReason();
          if (runId !== undefined) run = (await getRun(db.sql, runId).catch(() => undefined)) ?? run;
          if (run) account(run);
          break;
        }
        // "already running" right after we lost a connection: our old backend has not noticed yet.
        const staleHolder = e.code === '55P03' && lostConnection && /already running/.test(e.message ?? '');
        if (isConnectionLoss(err) || staleHolder) {
          lostConnection = true;
          failures++;
          local.retries++;
          const message = redact(isConnectionLoss(err) ? `lost the connection to the database: ${errorMessage(err)}` : errorMessage(err));
          if (failures > options.retries) {
            error = `${message} (gave up after ${options.retries} ${options.retries === 1 ? 'retry' : 'retries'})`;
            events.phase('failed', run, error);
            reason = 'failed';
            throw new CliError(
              `${error}. Nothing committed is lost: every batch is checkpointed in the database; run the same command again to resume.`,
              ExitCode.couldNotRun,
            );
          }
          const delay = Math.min(30_000, options.retryDelayMs * 2 ** (failures - 1));
          events.phase('reconnecting', run, message);
          events.message(`${message}; retry ${failures}/${options.retries} in ${(delay / 1000).toFixed(1)} s`);
          await sleep(delay, interrupt);
          continue;
        }
        error = redact(errorMessage(err));
        if (runId !== undefined) run = (await getRun(db.sql, runId).catch(() => undefined)) ?? run;
        if (run) account(run);
        events.phase('failed', run, error);
        reason = 'failed';
        // A permission error means "could not run" (3); the procedure's hint (pg_cancel_backend ...) is kept.
        throw new CliError(`backfill failed: ${redact(databaseErrorLine(err))}`, exitCodeFor(err));
      } finally {
        inFlight = undefined;
      }
      const elapsed = Date.now() - t0;
      if (!run) break; // unreachable: set in the try
      const id = run.run_id;
      account(run);
      if (options.targetBatchMs !== undefined && run.batch_size) batchSize = run.batch_size; // keep the adapted size
      events.progress(run, local);

      if (String(returned?.status) === 'completed' || run.status === 'completed') {
        reason = 'completed';
        break;
      }
      if (othersGoOn) break;
      const did = run.batches - batchesBefore;
      if (did <= 0) {
        // Nothing done in a whole CALL: rows locked by other transactions (the sweep gave up).
        idleCalls++;
        if (idleCalls >= MAX_IDLE_CALLS) {
          error = run.last_error ?? `run ${id} made no progress in ${idleCalls} CALLs`;
          reason = 'failed';
          events.phase('failed', run, error);
          throw new CliError(`${error}; the run is paused: run the same command again later to retry those rows`, ExitCode.error);
        }
        events.message(`run ${id}: ${run.last_error ?? 'no progress in this CALL'}; calling again`);
      } else idleCalls = 0;
      const perBatch = did > 0 ? elapsed / did : elapsed;
      perCall = Math.max(1, Math.min(10_000, Math.floor(options.callTargetMs / Math.max(1, perBatch))));
      shared.perCall = perCall;
      shared.batchSize = batchSize;
    }
    // This worker is done (or stops): the others finish their CALLs. When it stops for
    // a reason of its own (a signal, --max-batches), they stop after their CALL too.
    if (!othersGoOn || interrupt.aborted) shared.stop = true;
    const problems = (await Promise.all(extras)).filter((x): x is string => x !== undefined);
    if (extras.length > 0 && runId !== undefined) {
      run = (await getRun(db.sql, runId).catch(() => undefined)) ?? run;
      if (run) {
        account(run);
        events.progress(run, local);
        if (run.status === 'completed') reason = 'completed';
        else if (reason === 'completed' && !interrupt.aborted) {
          error = problems[0] ?? run.last_error ?? `run ${run.run_id} is ${run.status}`;
          reason = 'failed';
          events.phase('failed', run, error);
          throw new CliError(`backfill did not complete: ${error}; run the same command again to resume it`, ExitCode.error);
        }
      }
    }
  } finally {
    shared.stop = true;
    await Promise.all(extras).catch(() => undefined);
    setInterruptHandler(undefined);
    await call.end({ timeout: 5 }).catch(() => undefined);
    await guard.end({ timeout: 5 }).catch(() => undefined);
  }
  return { run, reason, local, error };
}

interface InFlight {
  pid: number;
  query: { cancel(): void };
}

/** What the first worker tells the others: the run, the batches per CALL, when to stop. */
interface SharedState {
  runId: number | undefined;
  batchSize: number | undefined;
  perCall: number;
  stop: boolean;
}

/** Cancels a CALL from the command's main pool (the procedure pauses the run at its last commit). */
async function cancelCall(db: Database, f: InFlight): Promise<void> {
  try {
    await cancelBackend(db.sql, f.pid);
  } catch {
    f.query.cancel(); // protocol-level cancel request as a fallback
  }
}

function callConnection(db: Database, options: LoopOptions, events: LoopEvents) {
  return db.connect({
    max: 1,
    settings: { statement_timeout: '0', lock_timeout: `${options.lockTimeoutMs}ms`, idle_in_transaction_session_timeout: '0' },
    onnotice: (n) => events.notice(`${n.severity ?? 'NOTICE'}: ${n.message}`, String(n.severity ?? 'NOTICE')),
  });
}

/** The run was completed by another worker: a CALL naming it is refused (22023, "cannot be resumed"). */
function runCompletedMeanwhile(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '22023' && /is completed and cannot be resumed/.test(e.message ?? '');
}

/**
 * Another worker of the run: CALLs it (run_id, workers => N) on a connection of its own
 * until the procedure says this worker has nothing left ('running': the others go on),
 * the run is complete, or the first worker tells it to stop. Returns why it gave up,
 * if it did (a lost connection after the retries, an error).
 */
async function extraWorker(
  db: Database,
  options: LoopOptions,
  shared: SharedState,
  interrupt: { aborted: boolean },
  inFlight: Set<InFlight>,
  events: LoopEvents,
): Promise<string | undefined> {
  const conn = callConnection(db, options, events);
  let failures = 0;
  try {
    while (!shared.stop && !interrupt.aborted && shared.runId !== undefined) {
      const { text, values } = callStatement(
        callParams({ ...options, restart: false, recheckRejects: false, recheckAll: false }, {
          batchSize: shared.batchSize, batches: shared.perCall, runId: shared.runId,
        }),
      );
      let current: InFlight | undefined;
      try {
        const pid = await backendPid(conn);
        const query = conn.unsafe(text, values);
        current = { pid, query };
        inFlight.add(current);
        const rows = (await query) as unknown as { status?: unknown }[];
        failures = 0;
        const status = String(rows[0]?.status);
        if (status === 'completed' || status === 'running') return undefined;
      } catch (err) {
        const e = err as { code?: string };
        if (runCompletedMeanwhile(err) || (e.code === QUERY_CANCELED && interrupt.aborted)) return undefined;
        if (!isConnectionLoss(err) && e.code !== '55P03') return redact(databaseErrorLine(err));
        // lost connection, or the run is between two CALLs of a worker that is going away
        failures++;
        if (failures > options.retries) return redact(errorMessage(err));
        await sleep(Math.min(30_000, options.retryDelayMs * 2 ** (failures - 1)), interrupt);
      } finally {
        if (current) inFlight.delete(current);
      }
    }
    return undefined;
  } finally {
    await conn.end({ timeout: 5 }).catch(() => undefined);
  }
}

/**
 * The "already running" error: the run that holds the database and the backend that
 * executes it, as backfill_runs records them (backend_pid), with how to stop it. Between
 * two CALLs of the other runner no backend is recorded: look again for up to a second.
 */
async function alreadyRunning(db: Database): Promise<string> {
  let holder: Awaited<ReturnType<typeof runningRun>>;
  for (let attempt = 0; attempt < 10; attempt++) {
    holder = await runningRun(db.sql).catch(() => undefined);
    if (holder?.backend_pid !== null && holder?.backend_pid !== undefined) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const run = holder ? `${holder.dry_run ? 'dry run' : 'run'} ${holder.run_id}` : 'a run';
  const pid = holder?.backend_pid ?? null;
  return (
    `another cowrie-db backfill is already running on this database: ${run}` +
    (pid !== null ? ` (backend pid ${String(pid)})` : ' (between two CALLs: no backend executes it at this moment)') +
    '; wait for it (cowrie-db status), or stop it' +
    (pid !== null ? ` with SELECT pg_cancel_backend(${String(pid)});` : ' (Ctrl-C, or SIGTERM to its process);') +
    ' a stopped run resumes where it stopped when you run this command again'
  );
}
