// Logging to stderr (results go to stdout). Every line is redacted.
import { redact } from './db/redact.js';
import { colorAllowed } from './progress.js';

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

const ANSI = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;

/** Colour for stdout results, off with NO_COLOR, TERM=dumb or when stdout is not a terminal (as for the progress bar). */
export function paint(colour: keyof typeof ANSI, text: string): string {
  if (!colorAllowed(process.stdout)) return text;
  return `\u001b[${ANSI[colour]}m${text}\u001b[0m`;
}
