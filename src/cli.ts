// Shared CLI plumbing: the options every command takes, zod validation of flags at
// the edge, and running a command body with uniform error handling and exit codes.
import { Command } from 'commander';
import { z } from 'zod';
import { CliError, databaseErrorLine, ExitCode, exitCodeFor, sqlState, usageError } from './errors.js';
import { runCleanups } from './lifecycle.js';
import { log, setLogLevel } from './log.js';
import { redact } from './db/redact.js';

export const DB_HELP =
  'database URL: postgresql://user[:password]@host:port/db or sqlite:<path>; ' +
  'default: $DATABASE_URL, then the libpq PG* variables, then the embedded PostgreSQL 17';

/** Adds --db, --json, --verbose and --quiet to a command. */
export function withCommonOptions(cmd: Command, opts: { json?: boolean } = { json: true }): Command {
  cmd.option('--db <url>', DB_HELP);
  if (opts.json) cmd.option('--json', 'print one machine-readable JSON document on stdout');
  cmd.option('-v, --verbose', 'more detail on stderr');
  cmd.option('-q, --quiet', 'only errors on stderr');
  return cmd;
}

export const commonSchema = z.object({
  db: z.string().optional(),
  json: z.boolean().optional().default(false),
  verbose: z.boolean().optional().default(false),
  quiet: z.boolean().optional().default(false),
});

/** Validates flags with a zod schema; the error names the flag and what is allowed. */
export function parseFlags<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const flag = issue.path.length ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'options';
    throw usageError(`${flag}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Plain decimal digits only: '' / ' ' / '0x10' / '1e3' / '+5' / '2.0' are not integers here
 * (Number() would read them as 0, 16, 1000, 5, 2).
 */
const INTEGER_TEXT = /^-?[0-9]+$/;
const DECIMAL_TEXT = /^-?[0-9]+(\.[0-9]+)?$/;

function numberFrom(pattern: RegExp) {
  return (v: unknown): unknown => {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && pattern.test(v)) return Number(v);
    return Number.NaN;
  };
}

/** An integer flag within bounds, with a message naming the allowed range. */
export function intFlag(min: number, max: number): z.ZodType<number> {
  const message = `must be an integer from ${min} to ${max}`;
  return z.preprocess(
    numberFrom(INTEGER_TEXT),
    z.number({ message }).refine((n) => Number.isSafeInteger(n) && n >= min && n <= max, { message }),
  ) as unknown as z.ZodType<number>;
}

/** A decimal-number flag within bounds (plain digits with an optional fraction). */
export function numberFlag(min: number, max: number): z.ZodType<number> {
  const message = `must be a number from ${min} to ${max}`;
  return z.preprocess(
    numberFrom(DECIMAL_TEXT),
    z.number({ message }).refine((n) => Number.isFinite(n) && n >= min && n <= max, { message }),
  ) as unknown as z.ZodType<number>;
}

/**
 * Runs a command body: sets the log level, maps errors to exit codes, always runs
 * cleanups (closing connections, stopping an embedded server this process started).
 */
export function action<T extends Record<string, unknown>>(body: (opts: T, cmd: Command) => Promise<number | void>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.opts() as T;
    setLogLevel(opts.quiet ? 'quiet' : opts.verbose ? 'verbose' : 'normal');
    let code: number = ExitCode.ok;
    try {
      code = (await body(opts, cmd)) ?? ExitCode.ok;
    } catch (err) {
      if (err instanceof CliError) {
        log.error(err.message);
        code = err.exitCode;
      } else if (sqlState(err)) {
        // An error from the database that no command turned into a message of its own: one line.
        log.error(redact(databaseErrorLine(err)));
        code = exitCodeFor(err);
      } else if (err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string') {
        // A file or system call that failed (EACCES, ENOSPC, ...): one line, not a stack trace.
        log.error(redact(err.message));
        code = ExitCode.error;
      } else {
        log.error(redact(err instanceof Error ? (err.stack ?? err.message) : String(err)));
        code = ExitCode.error;
      }
    }
    await runCleanups();
    process.exitCode = code;
  };
}
