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
    rows_multi_ip     INTEGER NOT NULL DEFAULT 0,  -- sessions whose enrichment names several IPs
    enrichment_at_from_session INTEGER NOT NULL DEFAULT 0,  -- enrichment_at filled from created_at
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

/** backfill_runs columns added after the first release (ensureSchema adds them to older files; migration 006 in PostgreSQL). */
export const ADDED_RUN_COLUMNS = ['rows_multi_ip', 'enrichment_at_from_session'];

/** Columns the backfill needs, per table (checked before a run: a clear error instead of a SQL one). */
export const REQUIRED_COLUMNS: Record<string, string[]> = {
  session_summaries: ['session_id', 'first_event_at', 'created_at', 'enrichment', 'source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at'],
  ip_inventory: ['ip_address', 'current_asn', 'geo_country', 'ip_types', 'enrichment', 'enrichment_updated_at'],
  ip_asn_history: ['ip_address', 'asn_number', 'observed_at'],
};

/**
 * The text of the JSON value at `path` of `doc` the way PostgreSQL's #>> gives it (a
 * string unquoted, a number or boolean as written, an object or array as JSON text;
 * NULL when absent or JSON null), blank-trimmed, '' -> NULL.
 */
function raw(doc: string, path: string): string {
  return `nullif(trim(CASE json_type(${doc}, '${path}') WHEN 'text' THEN json_extract(${doc}, '${path}')
                   WHEN 'null' THEN NULL ELSE ${doc} -> '${path}' END, ' ' || char(9, 13, 10)), '')`;
}

/** The top-level members the rule reads (a document with none of them, JSON null = absent, is no_enrichment). */
const MEMBERS = ['session', 'dshield', 'cymru', 'maxmind', 'spur', 'enriched_at'];
/** The "session" object's members in document order (none when it is not an object). */
const SESSION_KEYS = `jsonb_each(iif(json_type(c.e, '$.session') = 'object', c.e, NULL), '$.session')`;

/**
 * One batch: the next :batch_size sessions after :after_key (keyset on the primary
 * key, no OFFSET) that have a NULL snapshot column, each with what
 * backfill_snapshot_source gives (its header is the spec: both enrichment shapes, the
 * sources in order, the rejects): the values (new_*), their sources (*_source), the
 * reject reason and detail, ip_keys. Enrichment text that is not valid JSON, or holds a
 * \u0000 escape, is a 'row_error' reject (PostgreSQL's json type cannot hold the first;
 * its rule makes the second a row_error with this same detail).
 * The steps are MATERIALIZED so that every parse runs once per row (as the OFFSET 0
 * fences do in PostgreSQL; m, read by r alone, is not: its documents are not copied),
 * and the document is parsed once into JSONB.
 */
export function batchSql(withAfterKey: boolean): string {
  return `
WITH c AS MATERIALIZED (
    SELECT s.session_id, s.first_event_at, s.created_at, s.source_ip, s.snapshot_asn, s.snapshot_country,
           s.snapshot_ip_type, s.enrichment_at,
           CASE WHEN json_valid(s.enrichment) THEN jsonb(s.enrichment) END AS e,  -- parsed once (JSONB)
           s.enrichment AS raw_enrichment,
           CASE WHEN s.enrichment IS NOT NULL AND NOT json_valid(s.enrichment) THEN 'malformed JSON in session_summaries.enrichment'
                WHEN instr(s.enrichment, '\\u0000') THEN '22P05: unsupported Unicode escape sequence (a \\u0000 escape in the enrichment JSON)' END AS row_error
    FROM session_summaries s
    WHERE ${withAfterKey ? 's.session_id > :after_key' : '1 = 1'}
      AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
           OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
    ORDER BY s.session_id
    LIMIT :batch_size
), k AS MATERIALIZED (
    SELECT c.*,
           c.e IS NULL OR json_type(c.e) <> 'object'
             OR (${MEMBERS.map((m) => `coalesce(json_type(c.e, '$.${m}'), 'null') = 'null'`).join(' AND ')}) AS no_enrichment,
           (SELECT key FROM ${SESSION_KEYS} LIMIT 1) AS ip_key,
           (SELECT iif(type = 'object', value, NULL) FROM ${SESSION_KEYS} LIMIT 1) AS cap,
           (SELECT nullif(count(*), 0) FROM ${SESSION_KEYS}) AS ip_keys
    FROM c
), m AS (  -- per member, the document it is read from: the capture, else the top level
    SELECT k.*, ${MEMBERS.slice(1).map((m) => `iif(json_type(k.cap, '$.${m}') <> 'null', k.cap, k.e) AS d_${m}`).join(', ')}
    FROM k
), r AS MATERIALIZED (  -- the raw values (the documents are not carried further)
    SELECT ${['session_id', 'first_event_at', 'created_at', 'source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at',
              'raw_enrichment', 'row_error', 'no_enrichment', 'ip_keys'].map((col) => `m.${col}`).join(', ')},
           coalesce(nullif(trim(m.ip_key, ' ' || char(9, 13, 10)), ''), ${raw('m.d_dshield', '$.dshield.ip.number')}) AS raw_ip,
           coalesce(${raw('m.d_dshield', '$.dshield.ip.as')}, ${raw('m.d_dshield', '$.dshield.ip.asnumber')},
                    CASE json_type(m.d_spur, '$.spur')
                        WHEN 'array' THEN ${raw('m.d_spur', '$.spur[0]')}
                        WHEN 'object' THEN CASE WHEN json_type(m.d_spur, '$.spur.asn') = 'object'
                                                THEN ${raw('m.d_spur', '$.spur.asn.number')} ELSE ${raw('m.d_spur', '$.spur.asn')} END
                    END,
                    ${raw('m.d_cymru', '$.cymru.asn')}) AS raw_asn,
           coalesce(${raw('m.d_maxmind', '$.maxmind.country')}, ${raw('m.d_cymru', '$.cymru.country')}) AS raw_geo,
           ${raw('m.d_dshield', '$.dshield.ip.ascountry')} AS raw_as_country,
           ${raw('m.d_enriched_at', '$.enriched_at')} AS raw_at,
           m.d_spur -> '$.spur' AS spur
    FROM m
), p AS MATERIALIZED (
    SELECT r.*,
           pg_parse_ip(r.raw_ip) AS ip,
           pg_parse_asn(r.raw_asn) AS json_asn,
           pg_spur_ip_type(r.spur) AS json_ip_type,
           pg_parse_timestamptz(r.raw_at) AS json_at,
           pg_parse_timestamptz(r.created_at) AS created
    FROM r
), x AS MATERIALIZED (
    SELECT p.*,
           inv.ip_address AS inv_ip,
           inv.current_asn AS inv_asn,
           CASE WHEN p.json_ip_type IS NULL AND inv.ip_address IS NOT NULL
                THEN coalesce(pg_parse_ip_type(inv.ip_types),
                              pg_spur_ip_type(iif(json_valid(inv.enrichment), inv.enrichment -> '$.spur', NULL))) END AS inv_ip_type,
           inv.enrichment_updated_at AS inv_at,
           (SELECT h.asn_number FROM ip_asn_history h
             WHERE p.json_asn IS NULL AND h.ip_address = p.ip
               AND pg_parse_timestamptz(h.observed_at) <= pg_parse_timestamptz(p.first_event_at)
             ORDER BY pg_parse_timestamptz(h.observed_at) DESC LIMIT 1) AS hist_asn,
           coalesce(p.raw_geo, nullif(inv.geo_country, 'XX'), p.raw_as_country, 'XX') AS raw_country,
           CASE WHEN p.raw_geo IS NOT NULL THEN 'json' WHEN inv.geo_country <> 'XX' THEN 'inventory'
                WHEN p.raw_as_country IS NOT NULL THEN 'json' ELSE 'default' END AS country_source
    FROM p
    LEFT JOIN ip_inventory inv ON inv.ip_address = p.ip
), y AS MATERIALIZED (
    SELECT x.*, pg_parse_country(x.raw_country) AS country,
           (x.json_asn IS NOT NULL OR x.country_source = 'json' OR x.json_ip_type IS NOT NULL) AND x.created IS NOT NULL AS captured
    FROM x
)
SELECT y.session_id,
       y.source_ip, y.snapshot_asn, y.snapshot_country, y.snapshot_ip_type, y.enrichment_at,
       y.inv_ip IS NOT NULL AS in_inventory,
       y.inv_ip AS new_source_ip,
       coalesce(y.json_asn, y.hist_asn, y.inv_asn) AS new_snapshot_asn,
       CASE WHEN y.json_asn IS NOT NULL THEN 'json' WHEN y.hist_asn IS NOT NULL THEN 'history'
            WHEN y.inv_asn IS NOT NULL THEN 'inventory' END AS asn_source,
       y.country AS new_snapshot_country,
       y.country_source,
       coalesce(y.json_ip_type, y.inv_ip_type) AS new_snapshot_ip_type,
       CASE WHEN y.json_ip_type IS NOT NULL THEN 'json' WHEN y.inv_ip_type IS NOT NULL THEN 'inventory' END AS ip_type_source,
       CASE WHEN y.json_at IS NOT NULL THEN y.json_at WHEN y.captured THEN y.created ELSE y.inv_at END AS new_enrichment_at,
       CASE WHEN y.json_at IS NOT NULL THEN 'json' WHEN y.captured THEN 'session'
            WHEN y.inv_at IS NOT NULL THEN 'inventory' END AS enrichment_at_source,
       CASE WHEN y.row_error IS NOT NULL THEN 'row_error'
            WHEN y.no_enrichment THEN 'no_enrichment'
            WHEN y.raw_ip IS NULL THEN 'no_source_ip'
            WHEN y.ip IS NULL THEN 'bad_ip'
            WHEN y.raw_asn IS NOT NULL AND y.json_asn IS NULL THEN 'bad_asn'
            WHEN y.country IS NULL THEN 'bad_country'
            WHEN y.raw_at IS NOT NULL AND y.json_at IS NULL THEN 'bad_enriched_at' END AS reject_reason,
       substr(CASE WHEN y.row_error IS NOT NULL THEN y.row_error
                   WHEN y.no_enrichment THEN y.raw_enrichment
                   WHEN y.raw_ip IS NULL THEN NULL
                   WHEN y.ip IS NULL THEN y.raw_ip
                   WHEN y.raw_asn IS NOT NULL AND y.json_asn IS NULL THEN y.raw_asn
                   WHEN y.country IS NULL THEN y.raw_country
                   WHEN y.raw_at IS NOT NULL AND y.json_at IS NULL THEN y.raw_at END, 1, 200) AS reject_detail,
       y.ip_keys
FROM y
ORDER BY y.session_id`;
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
    rows_multi_ip = rows_multi_ip + :multi_ip,
    enrichment_at_from_session = enrichment_at_from_session + :at_session,
    elapsed_ms = elapsed_ms + :ms,
    status = :status,
    finished_at = CASE WHEN :status = 'completed' THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END,
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE run_id = :run_id`;

export const UNFINISHED_RUN_SQL = `SELECT * FROM backfill_runs WHERE status IN ('running', 'paused') ORDER BY run_id DESC LIMIT 1`;

export const RUN_SQL = `SELECT * FROM backfill_runs WHERE run_id = ?`;
