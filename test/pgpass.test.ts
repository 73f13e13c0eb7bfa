// The password file (PGPASSFILE, else ~/.pgpass), read as libpq reads it: matching
// rules, the permission check, redaction, and a real connection that needs it.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { matchPgpass } from '../src/db/pgpass.js';
import { resolveTarget } from '../src/db/target.js';
import { freshDatabase, runCli, testServers } from './harness/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'cowrie-db-pgpass-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function passfile(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

describe('matchPgpass', () => {
  const q = { host: 'db.example', port: 5432, database: 'cowrie', user: 'alice' };
  it('takes the first matching line; * matches any field; comments and short lines are skipped', () => {
    const text = ['# comment', 'db.example:5432:other:alice:no', 'broken:line', 'db.example:*:cowrie:alice:first', '*:*:*:*:second'].join('\n');
    expect(matchPgpass(text, q)).toBe('first');
    expect(matchPgpass(text, { ...q, database: 'x', user: 'bob' })).toBe('second');
    expect(matchPgpass('other:5432:cowrie:alice:pw\n', q)).toBeUndefined();
  });
  // As measured with psql 15: libpq ends the password at the next unescaped colon.
  it('unescapes \\: and \\\\; the password ends at an unescaped colon; an empty one is none', () => {
    expect(matchPgpass('db.example:5432:cowrie:alice:a\\:b\\\\c\n', q)).toBe('a:b\\c');
    expect(matchPgpass('db.example:5432:cowrie:alice:a:b\n', q)).toBe('a');
    expect(matchPgpass('db\\:x:5432:cowrie:alice:pw\n', { ...q, host: 'db:x' })).toBe('pw');
    expect(matchPgpass('db.example:5432:cowrie:alice:\n*:*:*:*:later\n', q)).toBeUndefined();
    expect(matchPgpass('*:*:*:*:pw', q)).toBe('pw');
  });
  it('localhost matches a Unix socket in the default directory, not in another one', () => {
    const text = 'localhost:5432:cowrie:alice:local\n';
    expect(matchPgpass(text, { ...q, host: '/var/run/postgresql' })).toBe('local');
    expect(matchPgpass(text, { ...q, host: 'localhost' })).toBe('local');
    expect(matchPgpass(text, { ...q, host: '/srv/pg/sockets' })).toBeUndefined();
    expect(matchPgpass(text, { ...q, host: '127.0.0.1' })).toBeUndefined();
  });
});

describe('resolveTarget with a password file', () => {
  it('fills a missing password from PGPASSFILE, never one already given', () => {
    const file = passfile('ok', 'h1:5433:d1:u1:Fr0m-Pgpass-Secret\n');
    const t = resolveTarget('postgresql://u1@h1:5433/d1', { PGPASSFILE: file });
    expect(t).toMatchObject({ kind: 'postgres', password: 'Fr0m-Pgpass-Secret' });
    expect(resolveTarget('postgresql://u1:given@h1:5433/d1', { PGPASSFILE: file })).toMatchObject({ password: 'given' });
    expect(resolveTarget(undefined, { PGHOST: 'h1', PGPORT: '5433', PGDATABASE: 'd1', PGUSER: 'u1', PGPASSFILE: file }))
      .toMatchObject({ password: 'Fr0m-Pgpass-Secret', source: 'PG environment' });
    expect(resolveTarget('postgresql://u2@h1:5433/d1', { PGPASSFILE: file })).toMatchObject({ password: undefined });
  });
  it('ignores a file the group or others can read, as libpq does', () => {
    const file = passfile('open', 'h1:5433:d1:u1:pw\n', 0o644);
    expect(resolveTarget('postgresql://u1@h1:5433/d1', { PGPASSFILE: file })).toMatchObject({ password: undefined });
  });
});

describe.each(testServers())('a connection that needs the password file on $name', (server) => {
  it('connects with a URL without password and PGPASSFILE; fails clearly without it; no password printed', async () => {
    const t = await freshDatabase(server);
    try {
      const url = `postgresql://${server.user}@${server.host}:${server.port}/${t.name}`;
      const file = passfile(`srv-${server.name}`, `${server.host}:${server.port}:*:${server.user}:${server.password.replace(/[:\\]/g, '\\$&')}\n`);
      const ok = await runCli(['status', '--db', url, '--json'], { env: { PGPASSFILE: file, PGPASSWORD: '' } });
      expect(ok.code, ok.stderr).toBe(0);
      const without = await runCli(['status', '--db', url, '--json'], { env: { PGPASSFILE: join(dir, 'none'), PGPASSWORD: '' } });
      expect(without.code).toBe(3);
      for (const o of [ok.stdout, ok.stderr, without.stdout, without.stderr]) expect(o).not.toContain(server.password);
    } finally {
      await t.drop();
    }
  });
});
