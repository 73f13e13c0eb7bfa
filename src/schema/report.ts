// Text output of schema_findings() rows, shared by check and migrate (what each row says is
// the SQL's; this only lays it out).
import { paint } from '../log.js';
import type { Finding, Severity } from './findings.js';

export const SEVERITIES: Severity[] = ['CRITICAL', 'ERROR', 'WARNING', 'INFO'];
const COLOUR: Record<Severity, 'red' | 'yellow' | 'dim'> = { CRITICAL: 'red', ERROR: 'red', WARNING: 'yellow', INFO: 'dim' };

const REPAIR: Record<string, (f: Finding) => string> = {
  auto: () => 'cowrie-db migrate repairs it',
  'opt-in': (f) => `opt-in: cowrie-db migrate --${f.opt_in ?? '?'}`,
  manual: () => 'NOT repaired automatically',
  none: () => 'nothing to do',
};

export function formatFinding(f: Finding): string[] {
  const lines = [`${paint(COLOUR[f.severity], f.severity.padEnd(8))} ${f.message}`];
  if (f.expected !== null || f.actual !== null) lines.push(`         expected: ${f.expected ?? '-'} | actual: ${f.actual ?? '-'}`);
  if (f.fix) lines.push(`         fix: ${f.fix}`);
  if (f.fix && f.lock_mode && f.lock_mode !== 'none') lines.push(`         lock: ${f.lock_mode}${f.rewrites_table ? ' — REWRITES THE TABLE' : ''}`);
  lines.push(`         repair: ${(REPAIR[f.repair] ?? REPAIR.manual!)(f)}`);
  if (f.manual_step && f.repair !== 'auto') lines.push(`         ${f.repair === 'manual' ? 'manual step' : 'note'}: ${f.manual_step}`);
  return lines;
}

export function severityCounts(findings: Finding[]): string {
  return SEVERITIES.map((s) => `${findings.filter((f) => f.severity === s).length} ${s}`).join(', ');
}
