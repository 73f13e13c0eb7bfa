// Where the target database comes from, and that no password ever shows.
import { describe, expect, it } from 'vitest';
import { redact, registerSecret } from '../src/db/redact.js';
import { resolveTarget } from '../src/db/target.js';

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
});

describe('redact', () => {
  it('hides URL passwords, keyword passwords and registered secrets', () => {
    expect(redact('postgresql://u:hunter2@h:5432/d')).toBe('postgresql://u:***@h:5432/d');
    expect(redact("host=h password='a b' user=u")).toBe('host=h password=*** user=u');
    registerSecret('Sup3r-S3cret');
    expect(redact('failed for Sup3r-S3cret twice: Sup3r-S3cret')).toBe('failed for *** twice: ***');
  });
});
