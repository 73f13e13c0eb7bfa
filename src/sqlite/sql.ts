// The SQL of the SQLite path: the schema (the upstream v16 tables, the columns the
// backfill reads and writes, in SQLite types), the backfill's state tables, and its
// statements. The snapshot rule (BATCH_SQL) is sql/functions/backfill_snapshot_source.sql
// and backfill_enrichment_capture.sql; the pg_* functions are parse.ts, registered by open.ts.
// Types: timestamps are TEXT (UTC 'YYYY-MM-DDTHH:MM:SS.ffffffZ' when cowrie-db writes
// them), JSON is TEXT, ip_inventory.ip_types (text[] in PostgreSQL) is a JSON array.

const NOW = `(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`;

/** The upstream v16 tables (geo_country generated as in PostgreSQL), schema_version 16, and the backfill state. */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS schema_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO schema_state (key, value) VALUES ('schema_version', '16') ON CONFLICT (key) DO NOTHING;

CREATE TABLE IF NOT EXISTS asn_inventory (
    asn_number INTEGER PRIMARY KEY CHECK (asn_number > 0), organization_name TEXT, organization_country TEXT,
    rir_registry TEXT, asn_type TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS ip_inventory (
    ip_address TEXT PRIMARY KEY, current_asn INTEGER REFERENCES asn_inventory (asn_number),
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, session_count INTEGER NOT NULL DEFAULT 0,
    enrichment TEXT NOT NULL DEFAULT '{}', enrichment_updated_at TEXT,
    geo_country TEXT GENERATED ALWAYS AS (upper(coalesce(enrichment ->> '$.maxmind.country',
        enrichment ->> '$.cymru.country', enrichment ->> '$.dshield.ip.ascountry', 'XX'))) STORED,
    ip_types TEXT);
CREATE INDEX IF NOT EXISTS ix_ip_inventory_current_asn ON ip_inventory (current_asn);

CREATE TABLE IF NOT EXISTS ip_asn_history (
    ip_address TEXT NOT NULL REFERENCES ip_inventory (ip_address),
    asn_number INTEGER NOT NULL REFERENCES asn_inventory (asn_number),
    observed_at TEXT NOT NULL, PRIMARY KEY (ip_address, asn_number, observed_at));

CREATE TABLE IF NOT EXISTS session_summaries (
    session_id TEXT PRIMARY KEY, first_event_at TEXT, last_event_at TEXT, enrichment TEXT,
    created_at TEXT NOT NULL DEFAULT ${NOW}, updated_at TEXT NOT NULL DEFAULT ${NOW},
    source_ip TEXT REFERENCES ip_inventory (ip_address), snapshot_asn INTEGER,
    snapshot_country TEXT CONSTRAINT snapshot_country_iso
        CHECK (snapshot_country IS NULL OR (length(snapshot_country) = 2 AND snapshot_country GLOB '[A-Z][A-Z]')),
    snapshot_ip_type TEXT, enrichment_at TEXT);
CREATE INDEX IF NOT EXISTS ix_session_summaries_source_ip ON session_summaries (source_ip);

-- The backfill's own state, as in PostgreSQL (sql/migrations/003_backfill-state.sql) with
-- fewer columns: one row per run, its checkpoint written with each batch; the rejects.
CREATE TABLE IF NOT EXISTS backfill_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'paused', 'completed', 'abandoned')),
    batch_size INTEGER NOT NULL, last_key TEXT, batches INTEGER NOT NULL DEFAULT 0,
    rows_scanned INTEGER NOT NULL DEFAULT 0, rows_filled INTEGER NOT NULL DEFAULT 0,
    rows_unchanged INTEGER NOT NULL DEFAULT 0, rows_rejected INTEGER NOT NULL DEFAULT 0,
    rows_no_inventory INTEGER NOT NULL DEFAULT 0, rows_multi_ip INTEGER NOT NULL DEFAULT 0,
    enrichment_at_from_session INTEGER NOT NULL DEFAULT 0, elapsed_ms REAL NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL DEFAULT ${NOW}, updated_at TEXT NOT NULL DEFAULT ${NOW}, finished_at TEXT);

CREATE TABLE IF NOT EXISTS backfill_rejects (
    run_id INTEGER NOT NULL, session_id TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT,
    rejected_at TEXT NOT NULL DEFAULT ${NOW}, PRIMARY KEY (run_id, session_id));
`;

/** backfill_runs counters newer than the first release: a file made before gets them (migration 006 in PostgreSQL). */
export const ADDED_RUN_COLUMNS = ['rows_multi_ip', 'enrichment_at_from_session'];

/** Columns the backfill needs, per table (checked before a run: a clear error instead of a SQL one). */
export const REQUIRED_COLUMNS: Record<string, string[]> = {
  session_summaries: ['session_id', 'first_event_at', 'created_at', 'enrichment', 'source_ip', 'snapshot_asn', 'snapshot_country', 'snapshot_ip_type', 'enrichment_at'],
  ip_inventory: ['ip_address', 'current_asn', 'geo_country', 'ip_types', 'enrichment', 'enrichment_updated_at'],
  ip_asn_history: ['ip_address', 'asn_number', 'observed_at'],
};

/**
 * One batch: the next :batch_size sessions with a NULL snapshot column after
 * :after_key (keyset on the primary key: session_id >= :from_key, which is :after_key
 * or '' for the first batch, and IS NOT :after_key), each with what
 * backfill_snapshot_source gives: the values (new_*), their sources, the reject reason
 * and detail, ip_keys. Enrichment that is not valid JSON, or holds a \u0000 escape, is
 * a 'row_error' (PostgreSQL's json type cannot hold the first; its rule makes the second
 * a row_error with this detail). pg_text(x -> path) is PostgreSQL's #>> (parse.ts
 * jsonText). MATERIALIZED steps run each parse once per row.
 */
export const BATCH_SQL = `
WITH c AS MATERIALIZED (
    SELECT s.session_id, s.first_event_at, s.created_at, s.source_ip, s.snapshot_asn, s.snapshot_country,
           s.snapshot_ip_type, s.enrichment_at, s.enrichment AS doc,
           iif(json_valid(s.enrichment), jsonb(s.enrichment), NULL) AS e,
           CASE WHEN s.enrichment IS NOT NULL AND NOT json_valid(s.enrichment) THEN 'malformed JSON in session_summaries.enrichment'
                WHEN instr(s.enrichment, '\\u0000') THEN '22P05: unsupported Unicode escape sequence (a \\u0000 escape in the enrichment JSON)'
           END AS row_error
    FROM session_summaries s
    WHERE s.session_id >= :from_key AND s.session_id IS NOT :after_key
      AND (s.source_ip IS NULL OR s.snapshot_asn IS NULL OR s.snapshot_country IS NULL
           OR s.snapshot_ip_type IS NULL OR s.enrichment_at IS NULL)
    ORDER BY s.session_id
    LIMIT :batch_size
), k AS MATERIALIZED (  -- the loader shape: the first key of "session" (document order) and its value
    SELECT c.*, (SELECT key FROM json_each(c.sess) LIMIT 1) AS ip_key,
           (SELECT iif(type = 'object', value, NULL) FROM json_each(c.sess) LIMIT 1) AS cap,
           (SELECT nullif(count(*), 0) FROM json_each(c.sess)) AS ip_keys,
           NOT EXISTS (SELECT 1 FROM json_each(iif(json_type(c.e) = 'object', c.e, NULL)) WHERE type <> 'null'
                         AND key IN ('session', 'dshield', 'cymru', 'maxmind', 'spur', 'enriched_at')) AS no_enrichment
    FROM (SELECT c.*, iif(json_type(c.e, '$.session') = 'object', c.e -> '$.session', NULL) AS sess FROM c) c
), m AS (  -- each member from the capture, else from the top level (JSON text)
    SELECT k.*, coalesce(nullif(k.cap -> '$.dshield', 'null'), k.e -> '$.dshield') AS dshield,
           coalesce(nullif(k.cap -> '$.cymru', 'null'), k.e -> '$.cymru') AS cymru,
           coalesce(nullif(k.cap -> '$.maxmind', 'null'), k.e -> '$.maxmind') AS maxmind,
           coalesce(nullif(k.cap -> '$.spur', 'null'), k.e -> '$.spur') AS spur,
           coalesce(nullif(k.cap -> '$.enriched_at', 'null'), k.e -> '$.enriched_at') AS enriched_at
    FROM k
), r AS MATERIALIZED (  -- the raw values, as backfill_enrichment_capture reads them
    SELECT m.session_id, m.first_event_at, m.created_at, m.source_ip, m.snapshot_asn, m.snapshot_country,
           m.snapshot_ip_type, m.enrichment_at, m.doc, m.row_error, m.no_enrichment, m.ip_keys, m.spur,
           coalesce(pg_text(json_quote(m.ip_key)), pg_text(m.dshield -> '$.ip.number')) AS raw_ip,
           coalesce(pg_text(m.dshield -> '$.ip.as'), pg_text(m.dshield -> '$.ip.asnumber'),
                    CASE json_type(m.spur) WHEN 'array' THEN pg_text(m.spur -> '$[0]')
                        WHEN 'object' THEN pg_text(iif(json_type(m.spur, '$.asn') = 'object', m.spur -> '$.asn.number', m.spur -> '$.asn')) END,
                    pg_text(m.cymru -> '$.asn')) AS raw_asn,
           coalesce(pg_text(m.maxmind -> '$.country'), pg_text(m.cymru -> '$.country')) AS raw_geo,
           pg_text(m.dshield -> '$.ip.ascountry') AS raw_as_country,
           pg_text(m.enriched_at) AS raw_at
    FROM m
), p AS MATERIALIZED (
    SELECT r.*, pg_parse_ip(r.raw_ip) AS ip, pg_parse_asn(r.raw_asn) AS json_asn, pg_spur_ip_type(r.spur) AS json_ip_type,
           pg_parse_timestamptz(r.raw_at) AS json_at, pg_parse_timestamptz(r.created_at) AS created
    FROM r
), x AS MATERIALIZED (
    SELECT p.*, inv.ip_address AS inv_ip, inv.current_asn AS inv_asn, inv.enrichment_updated_at AS inv_at,
           CASE WHEN p.json_ip_type IS NULL AND inv.ip_address IS NOT NULL
                THEN coalesce(pg_parse_ip_type(inv.ip_types),
                              pg_spur_ip_type(iif(json_valid(inv.enrichment), inv.enrichment -> '$.spur', NULL))) END AS inv_ip_type,
           (SELECT h.asn_number FROM ip_asn_history h
             WHERE p.json_asn IS NULL AND h.ip_address = p.ip
               AND pg_parse_timestamptz(h.observed_at) <= pg_parse_timestamptz(p.first_event_at)
             ORDER BY pg_parse_timestamptz(h.observed_at) DESC LIMIT 1) AS hist_asn,
           coalesce(p.raw_geo, nullif(inv.geo_country, 'XX'), p.raw_as_country, 'XX') AS raw_country,
           CASE WHEN p.raw_geo IS NOT NULL THEN 'json' WHEN inv.geo_country <> 'XX' THEN 'inventory'
                WHEN p.raw_as_country IS NOT NULL THEN 'json' ELSE 'default' END AS country_source
    FROM p LEFT JOIN ip_inventory inv ON inv.ip_address = p.ip
), y AS MATERIALIZED (
    SELECT x.*, pg_parse_country(x.raw_country) AS country,
           (x.json_asn IS NOT NULL OR x.country_source = 'json' OR x.json_ip_type IS NOT NULL) AND x.created IS NOT NULL AS captured
    FROM x
)
SELECT y.session_id, y.source_ip, y.snapshot_asn, y.snapshot_country, y.snapshot_ip_type, y.enrichment_at, y.ip_keys,
       y.inv_ip IS NOT NULL AS in_inventory,
       y.inv_ip AS new_source_ip,
       coalesce(y.json_asn, y.hist_asn, y.inv_asn) AS new_snapshot_asn,
       CASE WHEN y.json_asn IS NOT NULL THEN 'json' WHEN y.hist_asn IS NOT NULL THEN 'history'
            WHEN y.inv_asn IS NOT NULL THEN 'inventory' END AS asn_source,
       y.country AS new_snapshot_country, y.country_source,
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
                   WHEN y.no_enrichment THEN y.doc
                   WHEN y.raw_ip IS NULL THEN NULL
                   WHEN y.ip IS NULL THEN y.raw_ip
                   WHEN y.raw_asn IS NOT NULL AND y.json_asn IS NULL THEN y.raw_asn
                   WHEN y.country IS NULL THEN y.raw_country
                   WHEN y.raw_at IS NOT NULL AND y.json_at IS NULL THEN y.raw_at END, 1, 200) AS reject_detail
FROM y
ORDER BY y.session_id`;

/** Fill only what is NULL: a value someone else wrote is never overwritten. */
export const UPDATE_SQL = `
UPDATE session_summaries
SET source_ip = coalesce(source_ip, :source_ip), snapshot_asn = coalesce(snapshot_asn, :snapshot_asn),
    snapshot_country = coalesce(snapshot_country, :snapshot_country),
    snapshot_ip_type = coalesce(snapshot_ip_type, :snapshot_ip_type), enrichment_at = coalesce(enrichment_at, :enrichment_at)
WHERE session_id = :session_id`;

export const INSERT_REJECT_SQL = `
INSERT INTO backfill_rejects (run_id, session_id, reason, detail) VALUES (:run_id, :session_id, :reason, :detail)
ON CONFLICT (run_id, session_id) DO UPDATE SET reason = excluded.reason, detail = excluded.detail, rejected_at = ${NOW}`;

/** The checkpoint, in the same transaction as the batch's data. */
export const CHECKPOINT_SQL = `
UPDATE backfill_runs
SET last_key = coalesce(:last_key, last_key), batches = batches + :batches, rows_scanned = rows_scanned + :scanned,
    rows_filled = rows_filled + :filled, rows_unchanged = rows_unchanged + :unchanged, rows_rejected = rows_rejected + :rejected,
    rows_no_inventory = rows_no_inventory + :noInventory, rows_multi_ip = rows_multi_ip + :multiIp,
    enrichment_at_from_session = enrichment_at_from_session + :atSession, elapsed_ms = elapsed_ms + :ms, status = :status,
    finished_at = CASE WHEN :status = 'completed' THEN ${NOW} END, updated_at = ${NOW}
WHERE run_id = :run_id`;

export const RUN_SQL = `SELECT * FROM backfill_runs WHERE run_id = ?`;
