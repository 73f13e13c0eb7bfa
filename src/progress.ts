// Progress output for long-running commands (the backfill): on a terminal a live
// bar redrawn in place on stderr (by log-update); otherwise (pipes, `| tee`, cron, CI) one plain
// line every N seconds. Colours only on a terminal and never with NO_COLOR.
// Everything written goes through redact(), like every other log line.
import { createLogUpdate } from 'log-update';
import { redact } from './db/redact.js';

export interface ProgressState {
  /** Rows handled so far (filled + rejected + skipped), this run. */
  done: number;
  /** Rows to handle in total (estimate), when known. */
  total?: number;
  /** Rows per second (run average). */
  rate?: number;
  /** Seconds left, when known. */
  etaSeconds?: number;
  rejects: number;
  batches: number;
  batchSize?: number;
  runId?: number;
  /** The word in front: 'backfill' or 'dry-run'. */
  label: string;
}

export interface ProgressDisplay {
  update(state: ProgressState): void;
  /** Print a line (a log message) without breaking the live bar. */
  message(line: string): void;
  /** Remove the bar (or print a last plain line) before the summary. */
  stop(): void;
}

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Live bar (true) or plain lines (false). Default: the stream is a TTY. */
  tty?: boolean;
  /** Colours; default: a TTY and no NO_COLOR in the environment. */
  color?: boolean;
  /** Plain mode: at most one line per this many milliseconds. */
  intervalMs?: number;
  /** Bar width in characters. */
  width?: number;
  /** Injected clock (tests). */
  now?: () => number;
}

export function colorAllowed(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return Boolean(stream.isTTY);
}

const nf = new Intl.NumberFormat('en-US');

export function formatCount(n: number): string {
  return nf.format(Math.round(n));
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, '0')}m`;
}

export function formatRate(rate: number | undefined): string {
  if (rate === undefined || !Number.isFinite(rate)) return '? rows/s';
  return `${formatCount(rate)} rows/s`;
}

const paint = (on: boolean, code: string, text: string): string => (on ? `\x1b[${code}m${text}\x1b[0m` : text);

/** The pieces shared by the bar and the plain line. */
function facts(state: ProgressState, color: boolean): string[] {
  const parts: string[] = [];
  parts.push(state.total !== undefined ? `${formatCount(state.done)}/${formatCount(state.total)} rows` : `${formatCount(state.done)} rows`);
  parts.push(formatRate(state.rate));
  parts.push(`ETA ${formatDuration(state.etaSeconds)}`);
  parts.push(state.rejects > 0 ? paint(color, '33', `rejects ${formatCount(state.rejects)}`) : `rejects 0`);
  parts.push(`batches ${formatCount(state.batches)}`);
  if (state.batchSize !== undefined) parts.push(`batch size ${formatCount(state.batchSize)}`);
  return parts;
}

function percent(state: ProgressState): number | undefined {
  if (state.total === undefined || state.total <= 0) return undefined;
  return Math.min(100, (100 * state.done) / state.total);
}

/** One plain progress line (no control characters). */
export function plainLine(state: ProgressState): string {
  const pct = percent(state);
  const run = state.runId !== undefined ? ` run ${state.runId}` : '';
  return `${state.label}${run}: ${pct !== undefined ? `${pct.toFixed(1)}% ` : ''}${facts(state, false).join(', ')}`;
}

/** The live bar line (without the leading carriage return). */
export function barLine(state: ProgressState, width: number, color: boolean): string {
  const pct = percent(state);
  const cells = Math.max(10, width);
  const filled = pct === undefined ? 0 : Math.round((pct / 100) * cells);
  const bar = paint(color, '32', '█'.repeat(filled)) + paint(color, '2', '░'.repeat(cells - filled));
  const run = state.runId !== undefined ? ` run ${state.runId}` : '';
  return `${paint(color, '1', state.label + run)} ${bar} ${pct !== undefined ? `${pct.toFixed(1).padStart(5)}%` : '  ?  '} ${facts(state, color).join('  ')}`;
}

/** The live bar: log-update redraws it in place (a line wider than the terminal wraps and is redrawn whole). */
class TtyProgress implements ProgressDisplay {
  private last: ProgressState | undefined;
  private readonly bar: ReturnType<typeof createLogUpdate>;
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly color: boolean,
    private readonly width: number,
  ) {
    // The cursor stays as it is: hiding it would need log-update's exit hooks to show it again.
    this.bar = createLogUpdate(stream, { showCursor: true });
  }

  private draw(): void {
    if (this.last) this.bar(redact(barLine(this.last, this.width, this.color)));
  }

  update(state: ProgressState): void {
    this.last = state;
    this.draw();
  }

  message(line: string): void {
    this.bar.clear();
    this.stream.write(redact(line) + '\n');
    this.draw();
  }

  stop(): void {
    this.bar.clear();
    this.last = undefined;
  }
}

class PlainProgress implements ProgressDisplay {
  private lastPrinted = -Infinity;
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  update(state: ProgressState): void {
    const t = this.now();
    if (t - this.lastPrinted >= this.intervalMs) {
      this.stream.write(redact(plainLine(state)) + '\n');
      this.lastPrinted = t;
    }
  }

  message(line: string): void {
    this.stream.write(redact(line) + '\n');
  }

  stop(): void {
    // The last state is in the summary; nothing else to print.
  }
}

class SilentProgress implements ProgressDisplay {
  update(): void {}
  message(line: string): void {
    process.stderr.write(redact(line) + '\n');
  }
  stop(): void {}
}

export function createProgress(options: ProgressOptions & { enabled?: boolean } = {}): ProgressDisplay {
  const stream = options.stream ?? process.stderr;
  if (options.enabled === false) return new SilentProgress();
  const tty = options.tty ?? Boolean(stream.isTTY);
  if (tty) return new TtyProgress(stream, options.color ?? colorAllowed(stream), options.width ?? 24);
  return new PlainProgress(stream, options.intervalMs ?? 10_000, options.now ?? Date.now);
}
