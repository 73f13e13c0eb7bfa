// The progress display: a live bar on a terminal (redrawn in place, colours unless
// NO_COLOR), plain lines at most every N seconds otherwise.
import { describe, expect, it } from 'vitest';
import { barLine, colorAllowed, createProgress, formatDuration, plainLine, type ProgressState } from '../src/progress.js';

const state: ProgressState = { label: 'backfill', runId: 3, done: 250, total: 1000, rate: 50, etaSeconds: 15, rejects: 2, batches: 5, batchSize: 50 };

function fakeStream(isTTY: boolean, columns = 200): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, columns, rows: 24, text: '', write(chunk: string) { s.text += chunk; return true; } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('progress', () => {
  it('plain line: rows done/total, rate, ETA, rejects, batch size; no escapes', () => {
    expect(plainLine(state)).toBe('backfill run 3: 25.0% 250/1,000 rows, 50 rows/s, ETA 15s, rejects 2, batches 5, batch size 50');
  });

  it('bar: redrawn in place on a TTY, colours only when allowed', () => {
    const tty = fakeStream(true);
    const p = createProgress({ stream: tty, tty: true, color: false });
    p.update(state);
    p.update({ ...state, done: 500 });
    p.message('a log line');
    p.stop();
    // Each redraw first erases the previous frame (the bar line and the cursor's line below it).
    expect(tty.text.split('\x1b[2K\x1b[1A\x1b[2K\x1b[G')).toHaveLength(4);
    expect(tty.text).toContain('50.0%');
    expect(tty.text).toContain('a log line\n');
    expect(tty.text).not.toMatch(/\x1b\[[0-9;]*m/); // no colour codes
    expect(barLine(state, 20, true)).toMatch(/\x1b\[32m█{5}\x1b\[0m/);
  });

  it('bar on a narrow terminal: wrapped, every fact still shown', () => {
    const tty = fakeStream(true, 60);
    createProgress({ stream: tty, tty: true, color: false }).update(state);
    expect(tty.text).toMatch(/ETA 15s/);
    expect(tty.text).toMatch(/batch size 50\n/);
    for (const line of tty.text.replace(/\x1b\[[?0-9;]*[a-zA-Z]/g, '').split('\n')) expect(line.length).toBeLessThanOrEqual(60);
  });

  it('colours off with NO_COLOR, TERM=dumb or without a TTY', () => {
    expect(colorAllowed(fakeStream(true), {})).toBe(true);
    expect(colorAllowed(fakeStream(true), { NO_COLOR: '1' })).toBe(false);
    expect(colorAllowed(fakeStream(true), { TERM: 'dumb' })).toBe(false);
    expect(colorAllowed(fakeStream(false), {})).toBe(false);
  });

  it('plain mode prints at most one line per interval', () => {
    let now = 0;
    const out = fakeStream(false);
    const p = createProgress({ stream: out, tty: false, intervalMs: 10_000, now: () => now });
    p.update(state);
    now = 5_000;
    p.update({ ...state, done: 300 });
    now = 10_000;
    p.update({ ...state, done: 400 });
    expect(out.text.trim().split('\n')).toHaveLength(2);
    expect(out.text).not.toContain('\r');
  });

  it('durations', () => {
    expect(formatDuration(5)).toBe('5s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3 * 3600 + 60)).toBe('3h01m');
    expect(formatDuration(undefined)).toBe('?');
  });
});
