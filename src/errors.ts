// Errors that carry the process exit code the CLI documents.

export const ExitCode = {
  ok: 0,
  error: 1,
  critical: 2,
  couldNotRun: 3,
  usage: 64,
  sigint: 130,
  sigterm: 143,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.error,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, ExitCode.usage);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The SQLSTATE of an error the server sent (it has a severity; five characters), if it is one. */
export function sqlState(err: unknown): string | undefined {
  const e = err as { code?: unknown; severity?: unknown } | null;
  return typeof e?.severity === 'string' && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
}

/** insufficient_privilege (42501): the role may not do this. */
export function isPermissionError(err: unknown): boolean {
  return sqlState(err) === '42501';
}

/** The exit code an error from the database means: permissions are "could not run" (3). */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  return isPermissionError(err) ? ExitCode.couldNotRun : ExitCode.error;
}

/** One line for a database error: its message, and its hint when it has one. */
export function databaseErrorLine(err: unknown): string {
  const e = err as { message?: string; hint?: string };
  const hint = typeof e?.hint === 'string' && e.hint ? ` (hint: ${e.hint})` : '';
  const prefix = isPermissionError(err) ? 'the database role lacks a privilege this command needs: ' : '';
  return `${prefix}${errorMessage(err)}${hint}`;
}
