// Commands a person can copy: resume a run, undo it, follow it. Never with a password.
import { displayUrl, type PostgresTarget } from '../db/target.js';

/** Quote a shell word when needed. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_\/.:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `--db <url without password>` when the target came from --db; nothing otherwise (env, embedded). */
export function dbArgs(target: PostgresTarget | undefined): string[] {
  if (!target || target.source !== 'flag') return [];
  return ['--db', displayUrl(target)];
}

export function cliCommand(words: string[]): string {
  return ['cowrie-db', ...words].map(shellWord).join(' ');
}

export function undoCommand(target: PostgresTarget | undefined, runId: number): string {
  return cliCommand(['rollback', 'backfill', '--run', String(runId), ...dbArgs(target)]);
}

export function statusCommand(target: PostgresTarget | undefined): string {
  return cliCommand(['status', ...dbArgs(target)]);
}
