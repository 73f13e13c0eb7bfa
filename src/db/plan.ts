// `migrate --dry-run`: the exact plan, each statement with the lock it takes and
// the size of the table it touches; nothing is changed.
import type { Database } from './connect.js';
import { pendingMigrations, repairPlan, type RepairStep } from './migrate.js';
import { sqlFiles, upSection } from './sqlfiles.js';
import { describeLock, splitStatements } from './statements.js';

export interface PlannedStatement {
  statement: string;
  lock: string;
  table?: string;
  tableBytes?: number;
  rewrites: boolean;
}

export interface MigrationPlan {
  pending: { name: string; statements: PlannedStatement[] }[];
  repair: RepairStep[];
  /** Set when the repair plan cannot be computed before the pending migrations ran. */
  repairNote?: string;
}

async function tableBytes(db: Database, table: string | undefined): Promise<number | undefined> {
  if (!table) return undefined;
  const [row] = await db.sql`select pg_total_relation_size(to_regclass(${table}))::bigint as bytes`;
  return row?.bytes === null || row?.bytes === undefined ? undefined : Number(row.bytes);
}

export async function migrationPlan(db: Database): Promise<MigrationPlan> {
  const pendingNames = new Set(await pendingMigrations(db));
  const pending: MigrationPlan['pending'] = [];
  for (const file of sqlFiles('migrations')) {
    const name = file.name.replace(/\.sql$/, '');
    if (!pendingNames.has(name)) continue;
    const statements: PlannedStatement[] = [];
    for (const statement of splitStatements(upSection(file.text))) {
      const lock = describeLock(statement);
      statements.push({ statement, lock: lock.lock, table: lock.table, rewrites: lock.rewrites, tableBytes: await tableBytes(db, lock.table) });
    }
    pending.push({ name, statements });
  }
  try {
    return { pending, repair: await repairPlan(db.sql, { withCurrentFunctions: true }) };
  } catch (err) {
    return { pending, repair: [], repairNote: `the repair plan is computed after the pending migrations run (${(err as Error).message})` };
  }
}

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return 'new';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}
