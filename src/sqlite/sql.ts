// Every SQL text of the SQLite path: the schema (the upstream v16 shape, in SQLite
// types) and the backfill's statements. The snapshot rule is the same as
// sql/functions/backfill_snapshot_source.sql; the value parsers are the SQLite
// functions pg_parse_* (TypeScript ports of backfill_parse_*, see parse.ts and open.ts).
//
// Types: timestamps are TEXT (UTC, 'YYYY-MM-DDTHH:MM:SS.ffffffZ' when cowrie-db writes
// them), JSON columns are TEXT read with SQLite's JSON functions, booleans are
// INTEGER 0/1, ip_inventory.ip_types (text[] in PostgreSQL) is a JSON array as TEXT,
// and ip_inventory's generated columns (geo_country, is_scanner, is_bogon) are plain
// columns written by whoever loads the inventory (seedSqlite does).

/** The upstream v16 tables, their indexes, schema_version 16, and the backfill state tables. */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS schema_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS asn_inventory (
    asn_number            INTEGER PRIMARY KEY CHECK (asn_number > 0),
    organization_name     TEXT,
    organization_country  TEXT,
    rir_registry          TEXT,
    asn_type              TEXT,
    is_known_hosting      INTEGER NOT NULL DEFAULT 0,
    is_known_vpn          INTEGER NOT NULL DEFAULT 0,
    first_seen            TEXT NOT NULL,
    last_seen             TEXT NOT NULL,
    unique_ip_count       INTEGER NOT NULL DEFAULT 0,
    total_session_count   INTEGER NOT NULL DEFAULT 0,
    enrichment            TEXT NOT NULL DEFAULT '{}',
    enrichment_updated_at TEXT,
    created_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS ip_inventory (
    ip_address            TEXT PRIMARY KEY,
    current_asn           INTEGER REFERENCES asn_inventory (asn_number),
    asn_last_verified     TEXT,
    first_seen            TEXT NOT NULL,
    last_seen             TEXT NOT NULL,
    session_count         INTEGER NOT NULL DEFAULT 0,
    enrichment            TEXT NOT NULL DEFAULT '{}',
    enrichment_updated_at TEXT,
    enrichment_version    TEXT,
    geo_country           TEXT,               -- upper(coalesce(maxmind.country, cymru.country, dshield.ip.ascountry, 'XX'))
    is_scanner            INTEGER NOT NULL DEFAULT 0,
    is_bogon              INTEGER NOT NULL DEFAULT 0,
    ip_types              TEXT,               -- JSON array of strings (text[] in PostgreSQL)
    created_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS ip_asn_history (
    ip_address  TEXT NOT NULL REFERENCES ip_inventory (ip_address),
    asn_number  INTEGER NOT NULL REFERENCES asn_inventory (asn_number),
    observed_at TEXT NOT NULL,
    PRIMARY KEY (ip_address, asn_number, observed_at)
);

CREATE TABLE IF NOT EXISTS session_summaries (
    session_id         TEXT PRIMARY KEY,
    first_event_at     TEXT,
    last_event_at      TEXT,
    event_count        INTEGER NOT NULL DEFAULT 0,
    command_count      INTEGER NOT NULL DEFAULT 0,
    file_downloads     INTEGER NOT NULL DEFAULT 0,
    login_attempts     INTEGER NOT NULL DEFAULT 0,
    ssh_key_injections INTEGER NOT NULL DEFAULT 0,
    unique_ssh_keys    INTEGER NOT NULL DEFAULT 0,
    vt_flagged         INTEGER DEFAULT 0,
    dshield_flagged    INTEGER DEFAULT 0,
    risk_score         INTEGER,
    matcher            TEXT,
    source_files       TEXT,
    enrichment         TEXT,                  -- JSON captured at ingest (json in PostgreSQL)
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    source_ip          TEXT REFERENCES ip_inventory (ip_address),
    snapshot_asn       INTEGER,
    snapshot_country   TEXT CONSTRAINT ck_session_summaries_snapshot_country
                       CHECK (snapshot_country IS NULL OR (length(snapshot_country) = 2 AND snapshot_country GLOB '[A-Z][A-Z]')),
    snapshot_ip_type   TEXT,
    enrichment_at      TEXT
);

CREATE INDEX IF NOT EXISTS ix_session_summaries_source_ip ON session_summaries (source_ip);
CREATE INDEX IF NOT EXISTS ix_session_summaries_first_event_at ON session_summaries (first_event_at);
CREATE INDEX IF NOT EXISTS ix_session_summaries_snapshot_asn ON session_summaries (snapshot_asn);
CREATE INDEX IF NOT EXISTS ix_session_summaries_snapshot_country ON session_summaries (snapshot_country);
CREATE INDEX IF NOT EXISTS ix_ip_inventory_current_asn ON ip_inventory (current_asn);

INSERT INTO schema_state (key, value) VALUES ('schema_version', '16')
ON CONFLICT (key) DO NOTHING;
`;

/**
 * The backfill's own state: one backfill_runs row per run (its checkpoint: last_key
 * and counters, written in the same transaction as each batch), and the rejects.
 * Same names and meaning as in PostgreSQL (sql/migrations/003_backfill-state.sql),
 * fewer columns (no undo, no sweep, no adaptive batch size).
 */
export const STATE_SQL = `
CREATE TABLE IF NOT EXISTS backfill_runs (
    run_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    status            TEXT NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'paused', 'completed', 'abandoned')),
    batch_size        INTEGER NOT NULL,
    last_key          TEXT,
    batches           INTEGER NOT NULL DEFAULT 0,
    rows_scanned      INTEGER NOT NULL DEFAULT 0,
    rows_filled       INTEGER NOT NULL DEFAULT 0,
    rows_unchanged    INTEGER NOT NULL DEFAULT 0,
    rows_rejected     INTEGER NOT NULL DEFAULT 0,
    rows_no_inventory INTEGER NOT NULL DEFAULT 0,
    elapsed_ms        REAL NOT NULL DEFAULT 0,
    started_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at       TEXT
);

CREATE TABLE IF NOT EXISTS backfill_rejects (
    run_id      INTEGER NOT NULL,
    session_id  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT,
    rejected_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (run_id, session_id)
);
CREATE INDEX IF NOT EXISTS ix_backfill_rejects_reason ON backfill_rejects (run_id, reason);
`;

/** Columns the backfill needs, per table (checked before a run: a clear error instead of a SQL one). */
export const REQUIRED_COLUMNS: Record<string, string[]> = {
  session_summaries: ['session_id', 'first_event_at', 'enrichment', 'source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at'],
  ip_inventory: ['ip_address', 'current_asn', 'geo_country', 'ip_types', 'enrichment_updated_at'],
  ip_asn_history: ['ip_address', 'asn_number', 'observed_at'],
};

/**
 * The text of the JSON value at `path` the way PostgreSQL's #>> gives it (a string
 * unquoted, a number or boolean as written, an object or array as JSON text; NULL
 * when absent or JSON null), blank-trimmed, '' -> NULL.
 */
function rawText(path: string): string {
  return `nullif(trim(CASE json_type(c.e, '${path}') WHEN 'text' THEN json_extract(c.e, '${path}')
                                WHEN 'null' THEN NULL ELSE c.e -> '${path}' END, ' ' || char(9, 13, 10)), '')`;
}

/**
 * One batch: the next :batch_size sessions after :after_key (keyset on the primary
 * key, no OFFSET) that have a NULL snapshot column, each with the values the
 * snapshot rule gives (new_*), where they come from (*_source) and its reject
 * reason. Sources in order, as in backfill_snapshot_source:
 *   source_ip        dshield.ip.number (canonical), only when ip_inventory has it
 *   snapshot_asn     cymru.asn -> ip_asn_history as of first_event_at -> ip_inventory.current_asn
 *   snapshot_country maxmind.country -> cymru.country -> dshield.ip.ascountry
 *                    -> ip_inventory.geo_country -> 'XX'
 *   snapshot_ip_type spur.client.types -> ip_inventory.ip_types[0]
 *   enrichment_at    enriched_at -> ip_inventory.enrichment_updated_at
 * A value present in the JSON but unusable rejects the row (never a silent fallback).
 * 'no_enrichment': SQL NULL, JSON null, not an object, or an object with none of
 * dshield, cymru, maxmind, spur, enriched_at (or only JSON nulls there).
 * Enrichment text that is not valid JSON gives the 'row_error' reject (PostgreSQL's
 * json type cannot hold it, so it has no reason of its own there).
 * Each step is MATERIALIZED so that every parse runs once per row (as the OFFSET 0
 * fences do in PostgreSQL), and the document is parsed once into JSONB.
 */
export function batchSql(withAfterKey: boolean): string {
  return `
WITH c AS MATERIALIZED (
    SELECT s.session_id, s.first_event_at, s.source_ip, s.snapshot_asn, s.snapshot_country,
           s.snapshot_ip_type, s.enrichment_at,
           CASE WHEN json_valid(s.enrichment) THEN jsonb(s.enrichment) END AS e,  -- parsed once (JSONB)
           s.enrichment AS raw_enrichment,
           s.enrichment IS NOT NULL AND NOT json_valid(s.enrichment) AS malformed
    FROM session_summaries s
    WHERE ${withAfterKey ? 's.session_id > :after_key' : '1 = 1'}
      AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
           OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
    ORDER BY s.session_id
    LIMIT :batch_size
), r AS MATERIALIZED (
    SELECT c.*,
           c.e IS NULL OR json_type(c.e) <> 'object'
             OR (coalesce(json_type(c.e, '$.dshield'), 'null') = 'null' AND coalesce(json_type(c.e, '$.cymru'), 'null') = 'null'
                 AND coalesce(json_type(c.e, '$.maxmind'), 'null') = 'null' AND coalesce(json_type(c.e, '$.spur'), 'null') = 'null'
                 AND coalesce(json_type(c.e, '$.enriched_at'), 'null') = 'null') AS no_enrichment,
           ${rawText('$.dshield.ip.number')} AS raw_ip,
           ${rawText('$.cymru.asn')} AS raw_asn,
           coalesce(${rawText('$.maxmind.country')},
                    ${rawText('$.cymru.country')},
                    ${rawText('$.dshield.ip.ascountry')}) AS raw_country,
           ${rawText('$.enriched_at')} AS raw_at,
           c.e -> '$.spur.client.types' AS json_types
    FROM c
), p AS MATERIALIZED (
    SELECT r.*,
           pg_parse_ip(r.raw_ip) AS ip,
           pg_parse_asn(r.raw_asn) AS json_asn,
           pg_parse_ip_type(r.json_types) AS json_ip_type,
           pg_parse_timestamptz(r.raw_at) AS json_at
    FROM r
), x AS MATERIALIZED (
    SELECT p.*,
           inv.ip_address AS inv_ip,
           inv.current_asn AS inv_asn,
           inv.geo_country AS inv_country,
           CASE WHEN json_valid(inv.ip_types)
                THEN nullif(upper(trim(json_extract(inv.ip_types, '$[0]'), ' ' || char(9, 13, 10))), '') END AS inv_ip_type,
           inv.enrichment_updated_at AS inv_at,
           (SELECT h.asn_number FROM ip_asn_history h
             WHERE p.json_asn IS NULL AND h.ip_address = p.ip
               AND pg_parse_timestamptz(h.observed_at) <= pg_parse_timestamptz(p.first_event_at)
             ORDER BY pg_parse_timestamptz(h.observed_at) DESC LIMIT 1) AS hist_asn,
           pg_parse_country(coalesce(p.raw_country, inv.geo_country, 'XX')) AS country
    FROM p
    LEFT JOIN ip_inventory inv ON inv.ip_address = p.ip
)
SELECT x.session_id,
       x.source_ip, x.snapshot_asn, x.snapshot_country, x.snapshot_ip_type, x.enrichment_at,
       x.inv_ip IS NOT NULL AS in_inventory,
       x.inv_ip AS new_source_ip,
       coalesce(x.json_asn, x.hist_asn, x.inv_asn) AS new_snapshot_asn,
       CASE WHEN x.json_asn IS NOT NULL THEN 'json' WHEN x.hist_asn IS NOT NULL THEN 'history'
            WHEN x.inv_asn IS NOT NULL THEN 'inventory' END AS asn_source,
       x.country AS new_snapshot_country,
       CASE WHEN x.raw_country IS NOT NULL THEN 'json' WHEN x.inv_country IS NOT NULL THEN 'inventory'
            ELSE 'default' END AS country_source,
       coalesce(x.json_ip_type, x.inv_ip_type) AS new_snapshot_ip_type,
       CASE WHEN x.json_ip_type IS NOT NULL THEN 'json' WHEN x.inv_ip_type IS NOT NULL THEN 'inventory' END AS ip_type_source,
       coalesce(x.json_at, x.inv_at) AS new_enrichment_at,
       CASE WHEN x.json_at IS NOT NULL THEN 'json' WHEN x.inv_at IS NOT NULL THEN 'inventory' END AS enrichment_at_source,
       CASE WHEN x.malformed THEN 'row_error'
            WHEN x.no_enrichment THEN 'no_enrichment'
            WHEN x.raw_ip IS NULL THEN 'no_source_ip'
            WHEN x.ip IS NULL THEN 'bad_ip'
            WHEN x.raw_asn IS NOT NULL AND x.json_asn IS NULL THEN 'bad_asn'
            WHEN x.country IS NULL THEN 'bad_country'
            WHEN x.raw_at IS NOT NULL AND x.json_at IS NULL THEN 'bad_enriched_at' END AS reject_reason,
       substr(CASE WHEN x.malformed THEN 'malformed JSON in session_summaries.enrichment'
                   WHEN x.no_enrichment THEN x.raw_enrichment
                   WHEN x.raw_ip IS NULL THEN NULL
                   WHEN x.ip IS NULL THEN x.raw_ip
                   WHEN x.raw_asn IS NOT NULL AND x.json_asn IS NULL THEN x.raw_asn
                   WHEN x.country IS NULL THEN coalesce(x.raw_country, x.inv_country)
                   WHEN x.raw_at IS NOT NULL AND x.json_at IS NULL THEN x.raw_at END, 1, 200) AS reject_detail
FROM x
ORDER BY x.session_id`;
}

/** Fill only what is NULL: a value someone else wrote is never overwritten. */
export const UPDATE_SQL = `
UPDATE session_summaries
SET source_ip        = coalesce(source_ip, :source_ip),
    snapshot_asn     = coalesce(snapshot_asn, :snapshot_asn),
    snapshot_country = coalesce(snapshot_country, :snapshot_country),
    snapshot_ip_type = coalesce(snapshot_ip_type, :snapshot_ip_type),
    enrichment_at    = coalesce(enrichment_at, :enrichment_at)
WHERE session_id = :session_id`;

export const INSERT_REJECT_SQL = `
INSERT INTO backfill_rejects (run_id, session_id, reason, detail)
VALUES (:run_id, :session_id, :reason, :detail)
ON CONFLICT (run_id, session_id) DO UPDATE
    SET reason = excluded.reason, detail = excluded.detail,
        rejected_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;

/** The checkpoint, in the same transaction as the batch's data. */
export const CHECKPOINT_SQL = `
UPDATE backfill_runs
SET last_key = coalesce(:last_key, last_key),
    batches = batches + :batches,
    rows_scanned = rows_scanned + :scanned,
    rows_filled = rows_filled + :filled,
    rows_unchanged = rows_unchanged + :unchanged,
    rows_rejected = rows_rejected + :rejected,
    rows_no_inventory = rows_no_inventory + :no_inventory,
    elapsed_ms = elapsed_ms + :ms,
    status = :status,
    finished_at = CASE WHEN :status = 'completed' THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE run_id = :run_id`;

export const UNFINISHED_RUN_SQL = `
SELECT run_id, status, batch_size, last_key, batches, rows_scanned, rows_filled, rows_unchanged,
       rows_rejected, rows_no_inventory, elapsed_ms, started_at
FROM backfill_runs
WHERE status IN ('running', 'paused')
ORDER BY run_id DESC
LIMIT 1`;

export const RUN_SQL = `
SELECT run_id, status, batch_size, last_key, batches, rows_scanned, rows_filled, rows_unchanged,
       rows_rejected, rows_no_inventory, elapsed_ms, started_at
FROM backfill_runs WHERE run_id = ?`;
