// `migrate --dry-run`: the plan, nothing changed. Pending migrations are listed with what
// their header says they do and lock (each file documents it); the repair plan and what
// migrate will NOT repair come from schema_findings() (through schema_repair_plan()),
// computed with this version's functions in a transaction that is rolled back.
import type { Database } from './connect.js';
import { inRolledBackTransaction, pendingMigrations, type OptIn, type RepairStep } from './migrate.js';
import { sqlFiles } from './sqlfiles.js';
import type { Finding } from '../schema/findings.js';

export interface PendingMigration {
  name: string;
  /** The file's header comment (what it does, "Locks: ..."), as written in the file. */
  header: string[];
}

export interface MigrationPlan {
  pending: PendingMigration[];
  /** Findings the pending migrations themselves repair (e.g. a missing table they create). */
  byMigrations: Finding[];
  /** What migrate runs, in order (schema_repair_plan). */
  repair: RepairStep[];
  /** What migrate leaves: manual findings and opt-in ones not chosen (schema_findings). */
  notRepaired: Finding[];
  /** Set when the plan cannot be computed before the pending migrations ran. */
  repairNote?: string;
}

/**
 * What a migration file's header says about it: its first line and its "Locks:" paragraph,
 * as written in the file (each migration documents the locks it takes).
 */
export function migrationHeader(text: string): string[] {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('--') || /^--\s*up migration/i.test(line)) break;
    lines.push(line.replace(/^--\s?/, ''));
  }
  const locks = lines.findIndex((l) => /^\s*Locks\b/i.test(l));
  const tail = locks < 0 ? [] : lines.slice(locks).filter((l, i) => i === 0 || l.trim() !== '');
  return [...lines.slice(0, 1), ...(locks > 0 ? tail : [])];
}

export async function migrationPlan(db: Database, options: { optIn?: OptIn[] } = {}): Promise<MigrationPlan> {
  const pendingNames = new Set(await pendingMigrations(db));
  const pending = sqlFiles('migrations')
    .map((f) => ({ name: f.name.replace(/\.sql$/, ''), header: migrationHeader(f.text) }))
    .filter((m) => pendingNames.has(m.name));
  const optIn = options.optIn ?? [];
  try {
    const { repair, findings } = await inRolledBackTransaction(
      db.sql,
      async (tx) => ({
        repair: (await tx`select * from schema_repair_plan(true, ${optIn}::text[]) order by step`) as unknown as RepairStep[],
        findings: (await tx`select * from schema_findings(true) order by step`) as unknown as Finding[],
      }),
      { withCurrentFunctions: true },
    );
    const planned = new Set(repair.map((r) => r.finding_id));
    const byMigrations = findings.filter((f) => f.repair === 'auto' && f.run_sql === null);
    const notRepaired = findings.filter((f) => !planned.has(f.finding_id) && f.repair !== 'none' && !byMigrations.includes(f));
    return { pending, byMigrations, repair, notRepaired };
  } catch (err) {
    return { pending, byMigrations: [], repair: [], notRepaired: [], repairNote: `the repair plan could not be computed (${(err as Error).message})` };
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
