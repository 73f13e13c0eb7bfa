// Logging to stderr (results go to stdout). Every line is redacted.
import { redact } from './db/redact.js';

export type LogLevel = 'quiet' | 'normal' | 'verbose';

let level: LogLevel = 'normal';

export function setLogLevel(next: LogLevel): void {
  level = next;
}

export function isVerbose(): boolean {
  return level === 'verbose';
}

function write(line: string): void {
  process.stderr.write(redact(line) + '\n');
}

export const log = {
  info(message: string): void {
    if (level !== 'quiet') write(message);
  },
  verbose(message: string): void {
    if (level === 'verbose') write(message);
  },
  warn(message: string): void {
    write(`warning: ${message}`);
  },
  error(message: string): void {
    write(`error: ${message}`);
  },
};

/** Print a result on stdout (redacted too: results can echo a URL). */
export function out(text: string): void {
  process.stdout.write(redact(text) + (text.endsWith('\n') ? '' : '\n'));
}
