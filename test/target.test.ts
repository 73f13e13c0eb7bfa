// Where the target database comes from, and that no password ever shows.
import { describe, expect, it } from 'vitest';
import { redact, redactValue } from '../src/db/redact.js';
import { displayUrl, resolveTarget } from '../src/db/target.js';

describe('resolveTarget', () => {
  it('prefers --db over DATABASE_URL over PG* over embedded', () => {
    const env = { DATABASE_URL: 'postgresql://a@h1:5433/d1', PGHOST: 'h2' };
    expect(resolveTarget('postgres://b@h0/d0', env)).toMatchObject({ kind: 'postgres', host: 'h0', database: 'd0', source: 'flag' });
    expect(resolveTarget(undefined, env)).toMatchObject({ host: 'h1', port: 5433, database: 'd1', source: 'DATABASE_URL' });
    expect(resolveTarget(undefined, { PGHOST: 'h2', PGDATABASE: 'x', PGUSER: 'u' })).toMatchObject({ host: 'h2', database: 'x', user: 'u', source: 'PG environment' });
    expect(resolveTarget(undefined, {})).toEqual({ kind: 'embedded' });
  });

  it('recognises sqlite URLs', () => {
    expect(resolveTarget('sqlite:./x.db', {})).toEqual({ kind: 'sqlite', path: './x.db', source: 'flag' });
    expect(resolveTarget('sqlite:///test.db', {})).toMatchObject({ kind: 'sqlite', path: 'test.db' });
    expect(resolveTarget('sqlite:////tmp/x.db', {})).toMatchObject({ kind: 'sqlite', path: '/tmp/x.db' });
  });

  it('refuses unknown schemes and garbage with a usage error naming the flag', () => {
    expect(() => resolveTarget('mysql://u:pw@h/d', {})).toThrow(/--db: unsupported scheme 'mysql:'/);
    expect(() => resolveTarget('not a url', {})).toThrow(/--db: not a database URL/);
    expect(() => resolveTarget(undefined, { DATABASE_URL: 'http://x' })).toThrow(/DATABASE_URL: unsupported scheme/);
  });

  it('refuses a malformed percent-escape with a usage error naming the component (was: URIError)', () => {
    expect(() => resolveTarget('postgresql://u:p%zz@h/d', {})).toThrow(/--db: the URL's password has a malformed percent-escape/);
    expect(() => resolveTarget('postgresql://u%@h/d', {})).toThrow(/--db: the URL's user name has a malformed percent-escape/);
    expect(() => resolveTarget('postgresql://u@h/d%e0', {})).toThrow(/--db: the URL's database name has a malformed percent-escape/);
    expect(() => resolveTarget('postgresql://u@h/d?sslmode=%', {})).toThrow(/--db: the URL's query string has a malformed percent-escape/);
  });

  it('keeps every connection parameter, takes PGSSLMODE etc. where the URL has none, checks sslmode', () => {
    expect(resolveTarget('postgresql://u@h/d?sslmode=require&sslrootcert=%2Fx%2Froot.crt', {})).toMatchObject({ params: { sslmode: 'require', sslrootcert: '/x/root.crt' } });
    expect(resolveTarget('postgresql://u@h/d', { PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/r.crt' })).toMatchObject({ params: { sslmode: 'verify-full', sslrootcert: '/r.crt' } });
    expect(resolveTarget('postgresql://u@h/d?sslmode=disable', { PGSSLMODE: 'require' })).toMatchObject({ params: { sslmode: 'disable' } });
    expect(resolveTarget(undefined, { PGHOST: 'h', PGSSLMODE: 'require' })).toMatchObject({ params: { sslmode: 'require' } });
    expect(() => resolveTarget('postgresql://u@h/d?sslmode=maybe', {})).toThrow(/--db: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full/);
    const t = resolveTarget('postgresql://u:pw@h:5433/d?sslmode=require&password=pw2', {});
    expect(t).toMatchObject({ password: 'pw', params: { sslmode: 'require' } });
    if (t.kind !== 'postgres') throw new Error('expected postgres');
    expect(displayUrl(t)).toBe('postgresql://u@h:5433/d?sslmode=require');
  });
});

describe('redact', () => {
  it('hides URL password components and password keywords', () => {
    expect(redact('postgresql://u:hunter2@h:5432/d')).toBe('postgresql://u:***@h:5432/d');
    expect(redact("host=h password='a b' user=u")).toBe('host=h password=*** user=u');
    expect(redact('postgresql://u@h/d?sslmode=require&password=x')).toBe('postgresql://u@h/d?sslmode=require&password=***');
  });

  // Issue #22: redaction used to replace the password's text wherever it occurred.
  it('is structural: a password that is also an ordinary word leaves output intact', () => {
    for (const pw of ['true', 'run', 'cowrie']) {
      const t = resolveTarget(`postgresql://u:${pw}@h/d`, {});
      expect(t).toMatchObject({ password: pw });
      const json = JSON.stringify({ tool: 'cowrie-db', dry_run: true, runs: [] });
      expect(redact(json)).toBe(json);
      expect(redact('/etc/passwd: exists')).toBe('/etc/passwd: exists');
    }
    expect(redactValue({ a: { password: 'x', passwd: 'y' }, url: 'postgres://u:pw@h/d', n: 1 }))
      .toEqual({ a: { password: '***', passwd: '***' }, url: 'postgres://u:***@h/d', n: 1 });
  });
});
