// Connection and schema checks: connectivity, server version, read-only proof, schema drift,
// recorded vs actual schema version, migrations applied vs on disk, migration checksums.
import { performance } from 'node:perf_hooks';
import { MIGRATIONS_TABLE, migrationNames } from '../db/migrate.js';
import { migrationFileChecksums, readMigrationChecksums, CHECKSUMS_TABLE } from '../db/migration-checksums.js';
import { readInstalledFindings, type Finding } from '../schema/findings.js';
import type { CheckRunner } from './runner.js';

/** schema_findings() as read before validate's read-only transaction, or why it could not be. */
export type PreRead = { findings: Finding[]; source: string } | { error: string };

export async function connectionChecks(r: CheckRunner, label: string): Promise<void> {
  await r.run({ id: 'connection.connectivity', title: 'Connectivity', severity: 'CRITICAL' }, async (tx) => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await tx`select 1`;
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const [who] = await tx`select current_user as u, current_database() as d`;
    return {
      status: 'pass', measured: Math.round(times[1]! * 100) / 100, display: `${times[1]!.toFixed(2)} ms`,
      message: `connected to ${label} as ${who?.u}; round trip ${times[1]!.toFixed(2)} ms (median of 3)`,
    };
  });

  await r.run({ id: 'connection.read_only', title: 'Read-only session', severity: 'CRITICAL' }, async (tx) => {
    const [s] = await tx`select current_setting('transaction_read_only') as ro, current_setting('statement_timeout') as st,
                                current_setting('lock_timeout') as lt, current_setting('transaction_isolation') as iso`;
    const ok = s?.ro === 'on';
    return {
      status: ok ? 'pass' : 'fail', measured: String(s?.ro), display: `read only ${s?.ro}`, threshold: 'on',
      message: ok
        ? `every query runs in one ${String(s?.iso).toUpperCase()} READ ONLY transaction (statement_timeout ${s?.st}, lock_timeout ${s?.lt}); nothing is written`
        : 'the transaction is not read-only: validate refuses to trust it',
      details: { transactionReadOnly: s?.ro, isolation: s?.iso, statementTimeout: s?.st, lockTimeout: s?.lt },
    };
  });

  const min = r.config.thresholds.minServerVersion;
  await r.run({ id: 'connection.server_version', title: 'Server version', severity: 'CRITICAL' }, async (tx) => {
    const [v] = await tx`select current_setting('server_version_num')::int as num, current_setting('server_version') as txt`;
    const num = Number(v?.num);
    r.state.serverVersionNum = num;
    const major = Math.floor(num / 10000);
    const ok = major >= min;
    return {
      status: ok ? 'pass' : 'fail', measured: String(v?.txt), display: `PostgreSQL ${v?.txt}`, threshold: `>= ${min}`,
      message: ok ? `PostgreSQL ${v?.txt} is supported (${min}+)` : `PostgreSQL ${v?.txt} is older than ${min}: generated columns, DROP EXPRESSION and the backfill need ${min}+`,
    };
  }, { threshold: `>= ${min}` });
}

export async function schemaChecks(r: CheckRunner, pre: PreRead | null = null): Promise<void> {
  let findings: Finding[] | null = pre && 'findings' in pre ? pre.findings : null;
  await r.run({ id: 'schema.drift', title: 'Schema drift', severity: 'CRITICAL' }, async (tx) => {
    // The same rows as cowrie-db check: this version's schema_findings() read just before this
    // transaction, or (when that could not run) the copy installed in the database.
    const source = pre && 'findings' in pre ? pre.source : 'installed schema_findings()';
    findings ??= await readInstalledFindings(tx);
    const drift = findings.filter((f) => f.severity !== 'INFO');
    const critical = drift.filter((f) => f.severity === 'CRITICAL');
    const worst = critical.length ? 'CRITICAL' : drift.some((f) => f.severity === 'ERROR') ? 'ERROR' : drift.length ? 'WARNING' : undefined;
    if (critical.length) r.state.blockedBy = `schema drift (${critical.map((f) => `${f.table_name}.${f.object_name}`).join(', ')}): fix it first, see schema.drift`;
    const auto = drift.filter((f) => f.repair === 'auto').length;
    return {
      status: drift.length ? 'fail' : 'pass', severity: worst, measured: drift.length,
      display: `${drift.length} finding(s)`, threshold: '0',
      message: drift.length
        ? `${drift.map((f) => f.message).slice(0, 3).join('; ')}${drift.length > 3 ? `; and ${drift.length - 3} more` : ''}` +
          ` (${auto} repaired by cowrie-db migrate; cowrie-db check lists them all)`
        : 'the live schema is as expected (schema_findings: no CRITICAL, ERROR or WARNING)',
      details: { source, findings },
    };
  });

  await r.run({ id: 'schema.version', title: 'Recorded schema version', severity: 'CRITICAL' }, async (tx) => {
    const [st] = await tx`select to_regclass('schema_state') is not null as ok`;
    if (!st?.ok) {
      return { status: 'fail', measured: null, display: 'no schema_state', threshold: 'recorded >= 16', message: 'table schema_state does not exist: this is not a Cowrie database, or it was never migrated (cowrie-db migrate)' };
    }
    const [s] = await tx`select value as recorded from schema_state where key = 'schema_version'`;
    const recorded = s?.recorded === undefined || s.recorded === null ? null : String(s.recorded);
    findings ??= await readInstalledFindings(tx);
    const version = findings.find((f) => f.kind === 'schema_version');
    const incomplete = findings.filter((f) => f.severity === 'CRITICAL' && (f.kind === 'missing_table' || f.kind === 'missing_column'));
    const claims16 = recorded !== null && /^\d+$/.test(recorded) && Number(recorded) >= 16;
    if (claims16 && incomplete.length) {
      return { status: 'fail', severity: 'CRITICAL', measured: recorded, display: `recorded ${recorded}, schema incomplete`, threshold: 'recorded >= 16 and complete',
        message: `schema_state says ${recorded} but ${incomplete.map((f) => `${f.table_name}.${f.object_name}`).join(', ')} ${incomplete.length > 1 ? 'are' : 'is'} missing (half-migrated: the upstream "table exists, skipped" failure): run cowrie-db migrate`,
        details: { recorded, missing: incomplete.map((f) => f.finding_id) } };
    }
    if (version && version.severity !== 'INFO') {
      return { status: 'fail', severity: 'ERROR', measured: recorded, display: `recorded ${recorded ?? 'none'}`, threshold: 'recorded >= 16',
        message: `${version.message}: ${version.repair === 'auto' ? 'run cowrie-db migrate' : (version.manual_step ?? 'see cowrie-db check')}`, details: { recorded } };
    }
    return { status: 'pass', measured: recorded, display: `recorded ${recorded}`, threshold: 'recorded >= 16',
      message: version ? version.message : `schema_state says ${recorded} and the schema is complete`, details: { recorded } };
  });

  await r.run({ id: 'schema.migrations', title: 'Migrations applied vs files on disk', severity: 'ERROR' }, async (tx) => {
    const onDisk = migrationNames();
    const [t] = await tx`select to_regclass(${MIGRATIONS_TABLE}) is not null as ok`;
    if (!t?.ok) {
      return { status: 'fail', measured: onDisk.length, display: `${onDisk.length} pending`, threshold: '0 pending',
        message: `no ${MIGRATIONS_TABLE} table: cowrie-db has never migrated this database; run cowrie-db migrate`, details: { applied: [], pending: onDisk, unknown: [] } };
    }
    const applied = (await tx.unsafe(`select name from ${MIGRATIONS_TABLE} order by run_on, id`)).map((x) => String(x.name));
    const appliedSet = new Set(applied);
    const pending = onDisk.filter((m) => !appliedSet.has(m));
    const unknown = applied.filter((m) => !onDisk.includes(m));
    const status = pending.length || unknown.length ? 'fail' : 'pass';
    return {
      status, severity: pending.length ? 'ERROR' : 'WARNING',
      measured: pending.length, display: `${applied.length} applied, ${pending.length} pending`, threshold: '0 pending',
      message: pending.length
        ? `${pending.length} migration(s) not applied: ${pending.join(', ')}: run cowrie-db migrate`
        : unknown.length
          ? `applied migration(s) with no file in this cowrie-db version: ${unknown.join(', ')} (a newer cowrie-db applied them?)`
          : `all ${onDisk.length} migrations on disk are applied`,
      details: { applied, pending, unknown },
    };
  });

  await r.run({ id: 'schema.migration_checksums', title: 'Applied migrations unchanged since applied (sha256)', severity: 'ERROR' }, async (tx) => {
    const recorded = await readMigrationChecksums(tx);
    const files = new Map(migrationFileChecksums().map((f) => [f.name, f.sha256]));
    if (recorded === null) {
      return { status: 'fail', severity: 'WARNING', measured: null, display: 'not recorded', threshold: '0 edited',
        message: `no checksums recorded (${CHECKSUMS_TABLE} missing): edits to applied migrations cannot be detected until cowrie-db migrate records them` };
    }
    const edited = recorded.filter((c) => files.has(c.name) && files.get(c.name) !== c.sha256);
    return {
      status: edited.length ? 'fail' : 'pass', measured: edited.length, display: `${edited.length} edited`, threshold: '0 edited',
      message: edited.length
        ? `migration file(s) edited after they were applied: ${edited.map((e) => `${e.name} (recorded ${e.recordedAt.slice(0, 10)})`).join(', ')}: the database does not have what the files now say; restore the files or write a new migration`
        : `${recorded.length} applied migration(s) match the sha256 recorded when they were applied`,
      details: { edited: edited.map((e) => ({ name: e.name, recorded: e.sha256, onDisk: files.get(e.name) })), recorded: recorded.length },
    };
  });
}
