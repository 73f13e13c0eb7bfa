// The one-file psql install builds the same objects as `cowrie-db migrate`, runs
// twice without harm, and leaves nothing for migrate to do.
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogOf } from './harness/catalog.js';
import { freshDatabase, runCli, testServers, type TestDatabase } from './harness/servers.js';

const execFileAsync = promisify(execFile);

describe.each(testServers())('install-sql on $name', (server) => {
  let viaPsql: TestDatabase;
  let viaMigrate: TestDatabase;
  const script = join(tmpdir(), `cowrie-db-install-${process.pid}-${server.name}.sql`);

  beforeAll(async () => {
    viaPsql = await freshDatabase(server, { migrate: false });
    viaMigrate = await freshDatabase(server);
    const run = await runCli(['install-sql', '--print']);
    expect(run.code, run.stderr).toBe(0);
    writeFileSync(script, run.stdout);
  });
  afterAll(async () => {
    await viaPsql.drop();
    await viaMigrate.drop();
    rmSync(script, { force: true });
  });

  const psql = () =>
    execFileAsync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', server.host, '-p', String(server.port), '-U', server.user, '-d', viaPsql.name, '-f', script], {
      env: { ...process.env, PGPASSWORD: server.password },
    });

  it('psql -f builds the same schema and routines as migrate, twice in a row', async () => {
    await psql();
    await psql();
    expect(await catalogOf(viaPsql.sql)).toEqual(await catalogOf(viaMigrate.sql));
  });

  it('migrate afterwards finds nothing pending', async () => {
    const run = await runCli(['migrate', '--db', viaPsql.url, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).applied).toEqual([]);
  });
});
