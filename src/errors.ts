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
