// Shared CLI plumbing: the options every command takes, zod validation of flags at
// the edge, and running a command body with uniform error handling and exit codes.
import { Command, Option } from 'commander';
import { z } from 'zod';
import { CliError, ExitCode, usageError } from './errors.js';
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

/** An integer flag within bounds, with a message naming the allowed range. */
export function intFlag(min: number, max: number): z.ZodType<number> {
  return z.coerce
    .number({ message: `must be an integer from ${min} to ${max}` })
    .refine((n) => Number.isInteger(n) && n >= min && n <= max, {
      message: `must be an integer from ${min} to ${max}`,
    }) as unknown as z.ZodType<number>;
}

export function choiceOption(flags: string, description: string, choices: string[], defaultValue?: string): Option {
  const option = new Option(flags, description).choices(choices);
  return defaultValue === undefined ? option : option.default(defaultValue);
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
      } else {
        log.error(redact(err instanceof Error ? (err.stack ?? err.message) : String(err)));
        code = ExitCode.error;
      }
    }
    await runCleanups();
    process.exitCode = code;
  };
}
