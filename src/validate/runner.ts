// Runs one check at a time inside validate's read-only transaction: each check body runs
// in its own savepoint, so a check that fails (timeout, missing function) is recorded as
// "error" and the others still run.
import { performance } from 'node:perf_hooks';
import type postgres from 'postgres';
import { errorMessage } from '../errors.js';
import type { ValidateConfig } from './config.js';
import type { CheckResult, Group, Severity, Status } from './types.js';

export type Tx = postgres.TransactionSql;

export interface Outcome {
  status: Status;
  measured?: number | string | null;
  display?: string;
  threshold?: string | null;
  message: string;
  details?: unknown;
  /** Overrides the spec's severity for this outcome (e.g. ERROR only when rows violate). */
  severity?: Severity;
}

export interface CheckSpec {
  id: string;
  title: string;
  /** What a failure means (the config's "severity" map can override it by id). */
  severity: Severity;
}

/** What earlier checks learnt, for later ones. */
export interface ValidateState {
  serverVersionNum?: number;
  /** Set when schema drift makes the data checks meaningless (they are skipped). */
  blockedBy?: string;
  functions: Set<string>;
  coverage?: { total: number; filled: number; pct: number };
}

export class CheckRunner {
  readonly results: CheckResult[] = [];

  constructor(
    readonly tx: Tx,
    readonly config: ValidateConfig,
    readonly state: ValidateState,
    readonly statementTimeoutMs: number,
  ) {}

  private severityOf(spec: CheckSpec, outcome?: Outcome): Severity {
    return this.config.severity[spec.id] ?? outcome?.severity ?? spec.severity;
  }

  add(spec: CheckSpec, outcome: Outcome, durationMs = 0): CheckResult {
    const measured = outcome.measured ?? null;
    const result: CheckResult = {
      id: spec.id,
      group: spec.id.split('.')[0] as Group,
      title: spec.title,
      severity: this.severityOf(spec, outcome),
      status: outcome.status,
      measured,
      display: outcome.display ?? (measured === null ? '-' : String(measured)),
      threshold: outcome.threshold ?? null,
      message: outcome.message,
      ...(outcome.details === undefined ? {} : { details: outcome.details }),
      durationMs: Math.round(durationMs * 10) / 10,
    };
    this.results.push(result);
    return result;
  }

  skip(spec: CheckSpec, message: string, threshold: string | null = null): CheckResult {
    return this.add(spec, { status: 'skip', message, threshold });
  }

  /** Skips the check when drift blocks it or a function it needs is not installed. */
  async run(spec: CheckSpec, body: (tx: Tx) => Promise<Outcome>, needs: { functions?: string[]; schema?: boolean; threshold?: string } = {}): Promise<CheckResult> {
    if (needs.schema && this.state.blockedBy) {
      return this.skip(spec, `skipped: ${this.state.blockedBy}`, needs.threshold ?? null);
    }
    const missing = (needs.functions ?? []).filter((f) => !this.state.functions.has(f));
    if (missing.length > 0) {
      return this.add(spec, {
        status: 'error',
        threshold: needs.threshold ?? null,
        message: `could not run: function ${missing.join(', ')} is not installed in this database (cowrie-db migrate installs it)`,
      });
    }
    const started = performance.now();
    try {
      const outcome = await this.tx.savepoint((sp) => body(sp as unknown as Tx));
      return this.add(spec, outcome, performance.now() - started);
    } catch (err) {
      return this.add(spec, { status: 'error', threshold: needs.threshold ?? null, message: `could not run: ${describeError(err, this.statementTimeoutMs)}` }, performance.now() - started);
    }
  }
}

export function describeError(err: unknown, statementTimeoutMs: number): string {
  const code = (err as { code?: string }).code;
  const msg = errorMessage(err);
  switch (code) {
    case '57014': return `statement timeout (${statementTimeoutMs / 1000}s) reached; raise --statement-timeout (${msg})`;
    case '55P03': return `lock timeout: another session holds a conflicting lock (${msg})`;
    case '42501': return `permission denied: ${msg} (validate needs SELECT on the upstream tables and EXECUTE on the validate_* functions)`;
    case '42883': return `${msg} (cowrie-db migrate installs the functions)`;
    case '42703': case '42P01': return `${msg} (schema drift? see schema.drift)`;
    case '25006': return `attempted a write in validate's read-only transaction (a bug; nothing was written): ${msg}`;
    default: return msg;
  }
}

// ---- formatting helpers shared by the checks -------------------------------------------

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtPct = (p: number): string => `${p >= 99.95 && p < 100 ? p.toFixed(2) : p.toFixed(1)}%`;
export const pct = (part: number, whole: number): number => (whole > 0 ? (100 * part) / whole : 0);

/** Wilson score interval (95%) for a proportion, in percent. */
export function wilson(successes: number, n: number): [number, number] {
  if (n === 0) return [0, 100];
  const z = 1.959964;
  const p = successes / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return [Math.max(0, centre - half) * 100, Math.min(1, centre + half) * 100];
}
