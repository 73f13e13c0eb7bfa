// Data checks: coverage (validate_coverage), accuracy (validate_accuracy), data quality
// (validate_data_quality) and readiness before a backfill (validate_backfill_estimate).
// The SQL lives in sql/functions/validate_*.sql; this file applies thresholds and words.
import type { CheckRunner, Outcome, Tx } from './runner.js';
import { fmtInt, fmtPct, pct, wilson } from './runner.js';
import type { Severity } from './types.js';

interface Coverage {
  total: number;
  buckets: Record<string, number>;
  reasons: Record<string, Record<string, number>>;
}

async function readCoverage(tx: Tx): Promise<Coverage> {
  const rows = await tx`select bucket, reason, sessions from validate_coverage()`;
  const c: Coverage = { total: 0, buckets: {}, reasons: {} };
  for (const row of rows) {
    const n = Number(row.sessions);
    const b = String(row.bucket);
    c.total += n;
    c.buckets[b] = (c.buckets[b] ?? 0) + n;
    if (row.reason !== null) (c.reasons[b] ??= {})[String(row.reason)] = n;
  }
  return c;
}

const reasonList = (r: Record<string, number> | undefined): string =>
  r ? Object.entries(r).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ') : '';

export async function coverageChecks(r: CheckRunner): Promise<Coverage | undefined> {
  const min = r.config.thresholds.coverage;
  let coverage: Coverage | undefined;
  await r.run({ id: 'coverage.snapshots', title: 'Snapshot coverage', severity: 'ERROR' }, async (tx) => {
    const c = await readCoverage(tx);
    coverage = c;
    const b = (k: string) => c.buckets[k] ?? 0;
    const filled = b('filled') + b('filled_no_inventory');
    const p = pct(filled, c.total);
    r.state.coverage = { total: c.total, filled, pct: p };
    if (c.total === 0) return { status: 'skip', threshold: `>= ${min}%`, message: 'session_summaries is empty: nothing to cover' };
    const parts = [
      `${fmtInt(b('pending'))} pending`,
      `${fmtInt(b('no_inventory_match'))} no inventory match`,
      `${fmtInt(b('rejected'))} rejected${b('rejected') ? ` (${reasonList(c.reasons.rejected)})` : ''}`,
      `${fmtInt(b('no_source_ip'))} without a derivable source IP${b('no_source_ip') ? ` (${reasonList(c.reasons.no_source_ip)})` : ''}`,
    ];
    const ok = p >= min;
    return {
      status: ok ? 'pass' : 'fail', measured: Math.round(p * 100) / 100, display: fmtPct(p), threshold: `>= ${min}%`,
      message: `${fmtInt(filled)} of ${fmtInt(c.total)} sessions have snapshots (${fmtInt(b('filled_no_inventory'))} of them without source_ip: IP not in ip_inventory); ${parts.join(', ')}${ok ? '' : b('pending') ? ': run cowrie-db backfill' : ''}`,
      details: {
        total: c.total,
        filled: b('filled'),
        filledNoInventory: b('filled_no_inventory'),
        pending: b('pending'),
        noInventoryMatch: b('no_inventory_match'),
        rejected: { total: b('rejected'), reasons: c.reasons.rejected ?? {} },
        noSourceIp: { total: b('no_source_ip'), reasons: c.reasons.no_source_ip ?? {} },
      },
    };
  }, { functions: ['validate_coverage()', 'backfill_snapshot_source(json,timestamptz,timestamptz)'], schema: true, threshold: `>= ${min}%` });

  await r.run({ id: 'coverage.enrichment_shapes', title: 'Enrichment shapes', severity: 'WARNING' }, async (tx) => {
    const rows = await tx`select shape, sessions, multi_ip, examples from validate_enrichment_shapes()`;
    const shapes: Record<string, number> = {};
    for (const row of rows) shapes[String(row.shape)] = Number(row.sessions);
    const multiIp = rows.reduce((n, row) => n + Number(row.multi_ip), 0);
    const unreadable = rows.find((row) => row.shape === 'unreadable');
    const examples = (unreadable?.examples as string[] | undefined) ?? [];
    const listed = Object.entries(shapes).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${fmtInt(n)}`).join(', ');
    return {
      status: examples.length ? 'fail' : 'pass',
      measured: shapes.unreadable ?? 0,
      display: listed || 'no sessions',
      threshold: '0 unreadable',
      message: `session enrichment by shape: ${listed || 'none'}${multiIp ? `; ${fmtInt(multiIp)} sessions name several IPs (the first is used)` : ''}`
        + (examples.length ? `; unreadable JSON (a \\u0000 escape, recorded as row_error by the backfill): ${examples.join(', ')}${(shapes.unreadable ?? 0) > examples.length ? ', ...' : ''}` : ''),
      details: { shapes, multiIp, unreadableExamples: examples },
    };
  }, { functions: ['validate_enrichment_shapes()'], schema: true, threshold: '0 unreadable' });

  await r.run({ id: 'coverage.backfill_runs', title: 'Backfill runs finished', severity: 'WARNING' }, async (tx) => {
    const [t] = await tx`select to_regclass('backfill_runs') is not null as ok, to_regclass('backfill_rejects') is not null as rj`;
    if (!t?.ok) return { status: 'pass', measured: 0, display: 'no runs', message: 'no backfill has run yet (backfill_runs does not exist)' };
    const runs = await tx`select run_id, status, phase, rows_filled, rows_rejected, started_at, finished_at, last_error
                          from backfill_runs where not dry_run and undone_at is null order by run_id desc limit 5`;
    const open = runs.filter((x) => ['running', 'paused', 'failed'].includes(String(x.status)));
    const rejects = t.rj
      ? await tx`select reason, count(*)::bigint as n from backfill_rejects where run_id = (select max(run_id) from backfill_runs where not dry_run) group by reason order by 2 desc`
      : [];
    const last = runs[0];
    return {
      status: open.length ? 'fail' : 'pass', measured: open.length, display: last ? `last run #${last.run_id} ${last.status}` : 'no runs',
      threshold: 'no unfinished run',
      message: open.length
        ? `backfill run(s) not finished: ${open.map((x) => `#${x.run_id} ${x.status}${x.last_error ? ` (${String(x.last_error).slice(0, 80)})` : ''}`).join(', ')}: resume or abandon them (cowrie-db backfill)`
        : last
          ? `last backfill run #${last.run_id} ${last.status}: ${fmtInt(Number(last.rows_filled))} filled, ${fmtInt(Number(last.rows_rejected))} rejected${rejects.length ? ` (${rejects.map((x) => `${x.reason} ${fmtInt(Number(x.n))}`).join(', ')})` : ''}`
          : 'no backfill has run yet',
      details: { runs, rejectsOfLastRun: Object.fromEntries(rejects.map((x) => [String(x.reason), Number(x.n)])) },
    };
  });
  return coverage;
}

export async function accuracyChecks(r: CheckRunner, seed: number): Promise<void> {
  const min = r.config.thresholds.accuracy;
  const size = r.config.accuracy.sampleSize;
  let sample: { sampled: number; drifted: number; driftCols: Record<string, number> } | undefined;
  await r.run({ id: 'accuracy.sample', title: 'Snapshot accuracy (sample recomputed)', severity: 'ERROR' }, async (tx) => {
    const rows = await tx`select session_id, matches, mismatched, temporal_drift, drift_columns,
                                 stored_source_ip, expected_source_ip, stored_asn, expected_asn, stored_country, expected_country,
                                 stored_ip_type, expected_ip_type, stored_enrichment_at, expected_enrichment_at
                          from validate_accuracy(${size}, ${seed})`;
    const sampled = rows.length;
    if (sampled === 0) return { status: 'skip', threshold: `>= ${min}%`, message: 'no filled session to sample (snapshot_country is NULL everywhere): run the backfill first' };
    const bad = rows.filter((x) => !x.matches);
    const byColumn: Record<string, number> = {};
    for (const x of bad) for (const c of x.mismatched as string[]) byColumn[c] = (byColumn[c] ?? 0) + 1;
    const driftCols: Record<string, number> = {};
    const drifted = rows.filter((x) => x.temporal_drift);
    for (const x of drifted) for (const c of x.drift_columns as string[]) driftCols[c] = (driftCols[c] ?? 0) + 1;
    sample = { sampled, drifted: drifted.length, driftCols };
    const matching = sampled - bad.length;
    const p = pct(matching, sampled);
    const [lo, hi] = wilson(matching, sampled);
    const [filled] = await tx`select count(*)::bigint as n from session_summaries where snapshot_country is not null`;
    const ok = p >= min;
    return {
      status: ok ? 'pass' : 'fail', measured: Math.round(p * 100) / 100, display: fmtPct(p), threshold: `>= ${min}%`,
      message: `${fmtInt(matching)} of ${fmtInt(sampled)} sampled filled sessions match the backfill rule recomputed from their sources (95% CI ${lo.toFixed(1)}-${hi.toFixed(1)}%)` +
        (bad.length ? `; ${fmtInt(bad.length)} differ: ${Object.entries(byColumn).map(([k, v]) => `${k} ${v}`).join(', ')}` : '') +
        ` [seed ${seed}; --seed ${seed} reproduces this sample]`,
      details: {
        seed, sampleSize: size, sampled, matching, mismatching: bad.length, filledSessions: Number(filled?.n), confidence95: [lo, hi], byColumn,
        examples: bad.slice(0, 10).map((x) => ({
          session_id: x.session_id, mismatched: x.mismatched,
          stored: { source_ip: x.stored_source_ip, snapshot_asn: x.stored_asn, snapshot_country: x.stored_country, snapshot_ip_type: x.stored_ip_type, enrichment_at: x.stored_enrichment_at },
          expected: { source_ip: x.expected_source_ip, snapshot_asn: x.expected_asn, snapshot_country: x.expected_country, snapshot_ip_type: x.expected_ip_type, enrichment_at: x.expected_enrichment_at },
        })),
        query: `SELECT * FROM validate_accuracy(${size}, ${seed}) WHERE NOT matches;`,
      },
    };
  }, { functions: ['validate_accuracy(integer,bigint)', 'backfill_snapshot_source(json,timestamptz,timestamptz)'], schema: true, threshold: `>= ${min}%` });

  const spec = { id: 'accuracy.temporal_drift', title: "Snapshots differing from today's ip_inventory (temporal drift)", severity: 'INFO' as Severity };
  if (!sample) {
    r.skip(spec, 'skipped: no accuracy sample');
    return;
  }
  const s = sample;
  const p = pct(s.drifted, s.sampled);
  r.add(spec, {
    status: 'pass', measured: Math.round(p * 100) / 100, display: fmtPct(p),
    message: `${fmtInt(s.drifted)} of ${fmtInt(s.sampled)} sampled sessions (${fmtPct(p)}) differ from today's ip_inventory` +
      (s.drifted ? ` (${Object.entries(s.driftCols).map(([k, v]) => `${k} ${v}`).join(', ')})` : '') +
      ': expected (IPs move between ASNs); snapshots keep the values at attack time. Not an error',
    details: { sampled: s.sampled, drifted: s.drifted, byColumn: s.driftCols },
  });
}

export async function dataQualityChecks(r: CheckRunner): Promise<void> {
  type Row = { check_name: string; item: string; table_name: string; violations: string; severity: string; message: string; fix: string | null };
  let rows: Row[] | undefined;
  const titles: Record<string, string> = {
    orphan_source_ip: 'Orphan source_ip values',
    constraint_violations: 'CHECK and FOREIGN KEY violations',
    not_valid_constraints: 'NOT VALID constraints left unvalidated',
    impossible_values: 'Impossible values',
  };
  const first = await r.run({ id: 'data_quality.orphan_source_ip', title: titles.orphan_source_ip!, severity: 'ERROR' }, async (tx) => {
    rows = (await tx`select * from validate_data_quality()`) as unknown as Row[];
    return outcomeFor('orphan_source_ip', rows);
  }, { functions: ['validate_data_quality()', 'expected_constraints()', 'backfill_parse_ip(text)'], schema: true, threshold: '0' });
  for (const name of ['constraint_violations', 'not_valid_constraints', 'impossible_values']) {
    const spec = { id: `data_quality.${name}`, title: titles[name]!, severity: 'ERROR' as Severity };
    if (!rows) r.add(spec, { status: first.status, threshold: '0', message: first.message });
    else r.add(spec, outcomeFor(name, rows));
  }

  function outcomeFor(name: string, all: Row[]): Outcome {
    const mine = all.filter((x) => x.check_name === name);
    const hits = mine.filter((x) => Number(x.violations) > 0 || name === 'not_valid_constraints');
    const total = mine.reduce((n, x) => n + Number(x.violations), 0);
    const severity: Severity = hits.some((x) => x.severity === 'ERROR') ? 'ERROR' : 'WARNING';
    const failing = name === 'not_valid_constraints' ? hits.length : total;
    return {
      status: failing ? 'fail' : 'pass', severity, measured: failing,
      display: name === 'not_valid_constraints' ? `${hits.length} constraint(s)` : `${fmtInt(total)} row(s)`,
      threshold: '0',
      message: failing
        ? hits.map((x) => `${x.item}: ${x.message}${name === 'not_valid_constraints' ? '' : ` (${fmtInt(Number(x.violations))})`}`).join('; ')
        : name === 'not_valid_constraints'
          ? 'every CHECK and FOREIGN KEY constraint of the upstream tables is validated'
          : `none (checked: ${mine.map((x) => x.item).join(', ')})`,
      details: mine.map((x) => ({ item: x.item, table: x.table_name, violations: Number(x.violations), severity: x.severity, message: x.message, fix: x.fix })),
    };
  }
}

export async function readinessChecks(r: CheckRunner, coverage: Coverage | undefined, seed: number): Promise<void> {
  const min = r.config.thresholds.inventoryCoverage;
  const b = (k: string) => coverage?.buckets[k] ?? 0;
  const pendingSpec = { id: 'readiness.pending', title: 'Sessions needing a backfill', severity: 'INFO' as Severity };
  const invSpec = { id: 'readiness.inventory_coverage', title: 'ip_inventory coverage of the sessions to fill', severity: 'WARNING' as Severity };
  if (!coverage) {
    const why = r.state.blockedBy ? `skipped: ${r.state.blockedBy}` : 'skipped: coverage could not be measured';
    r.skip(pendingSpec, why);
    r.skip(invSpec, why, `>= ${min}%`);
  } else {
    const notFilled = b('pending') + b('no_inventory_match') + b('rejected') + b('no_source_ip');
    r.add(pendingSpec, {
      status: 'pass', measured: notFilled, display: fmtInt(notFilled),
      message: `${fmtInt(notFilled)} session(s) without snapshots: the backfill would fill ${fmtInt(b('pending'))} with source_ip, ` +
        `${fmtInt(b('no_inventory_match'))} only from their JSON (IP not in ip_inventory), and leave ${fmtInt(b('rejected') + b('no_source_ip'))} (rejected or no source IP)`,
      details: { withoutSnapshots: notFilled, wouldFill: b('pending'), noInventoryMatch: b('no_inventory_match'), rejected: b('rejected'), noSourceIp: b('no_source_ip') },
    });
    const derivable = b('pending') + b('no_inventory_match');
    const p = pct(b('pending'), derivable);
    r.add(invSpec, derivable === 0
      ? { status: 'pass', threshold: `>= ${min}%`, message: 'no session with a derivable source IP is waiting for a backfill' }
      : {
          status: p >= min ? 'pass' : 'fail', measured: Math.round(p * 100) / 100, display: fmtPct(p), threshold: `>= ${min}%`,
          message: `${fmtInt(b('pending'))} of ${fmtInt(derivable)} sessions waiting with a derivable IP have it in ip_inventory${p >= min ? '' : ': enrich the inventory first, or their snapshots will have no source_ip'}`,
        });
  }

  const batch = r.config.readiness.batchSize;
  await r.run({ id: 'readiness.estimate', title: 'Dry-run estimate (computed, nothing written)', severity: 'INFO' }, async (tx) => {
    const [e] = await tx`select * from validate_backfill_estimate(${r.config.readiness.sampleSize}, ${seed})`;
    if (!e) throw new Error('validate_backfill_estimate returned no row');
    const pending = Number(e.pending_sessions);
    const sampled = Number(e.sampled);
    const [t] = await tx`select to_regclass('backfill_batches') is not null as ok`;
    let observed: { rate: number; runId: number } | undefined;
    if (t?.ok) {
      const [o] = await tx`select b.run_id, sum(b.rows_scanned)::float8 / nullif(sum(b.duration_ms), 0) * 1000 as rate
                           from backfill_batches b join backfill_runs r on r.run_id = b.run_id and not r.dry_run
                           where b.run_id = (select max(run_id) from backfill_runs where not dry_run) group by b.run_id`;
      if (o?.rate) observed = { rate: Number(o.rate), runId: Number(o.run_id) };
    }
    const computeS = e.est_compute_seconds === null ? null : Number(e.est_compute_seconds);
    const batches = Math.ceil(pending / batch);
    const msg = pending === 0
      ? 'nothing to backfill'
      : `${fmtInt(pending)} session(s) in ${fmtInt(batches)} batch(es) of ${batch}; sample of ${fmtInt(sampled)}: ` +
        `${fmtPct(pct(Number(e.would_fill), sampled))} would fill, ${fmtPct(pct(Number(e.no_inventory), sampled))} without inventory match, ` +
        `${fmtPct(pct(Number(e.rejected) + Number(e.no_source_ip), sampled))} rejected; computing the values takes ~${fmtDuration(computeS ?? 0)} ` +
        (observed ? `(at run #${observed.runId}'s measured ${fmtInt(observed.rate)} sessions/s: ~${fmtDuration(pending / observed.rate)} with writes)` : '(writes, WAL and index maintenance come on top)');
    return {
      status: 'pass', measured: pending, display: pending ? `~${fmtDuration(observed ? pending / observed.rate : computeS ?? 0)}` : 'nothing to do', message: msg,
      details: {
        pendingSessions: pending, batchSize: batch, batches, sampled, wouldFill: Number(e.would_fill), noInventory: Number(e.no_inventory),
        rejected: Number(e.rejected), noSourceIp: Number(e.no_source_ip), sampleMs: Number(e.sample_ms), estComputeSeconds: computeS,
        observedRate: observed ?? null, note: 'estimated from a read-only sample; the backfill engine\'s own dry run is not called because it records a run row',
      },
    };
  }, { functions: ['validate_backfill_estimate(integer,bigint)', 'backfill_snapshot_source(json,timestamptz,timestamptz)'], schema: true });
}

export function fmtDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
