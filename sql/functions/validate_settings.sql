-- validate_settings(settings jsonb) -> jsonb: validate's settings with the runbooks'
-- defaults filled in, checked. The one place the thresholds are set:
--   thresholds.coverage           95   % of sessions with snapshots (runbook: >= 95%)
--   thresholds.accuracy           99   % of sampled filled sessions that match the rule
--                                      recomputed (runbook: >= 99%)
--   thresholds.speedup            5    geometric mean of the runbook queries' JOIN /
--                                      snapshot time ratios (runbook: 5-10x faster)
--   thresholds.inventoryCoverage  95   % of the sessions to fill whose IP is in
--                                      ip_inventory (runbook dry run: > 95%)
--   thresholds.minServerVersion   13   oldest supported server major version
--   accuracy.sampleSize 1000, accuracy.seed 0; readiness.sampleSize 2000,
--   readiness.batchSize 1000; performance.runs 5, .country 'CN', .ipType 'DATACENTER',
--   .snowshoeMinIps 100; severity {} (check id -> CRITICAL | ERROR | WARNING | INFO:
--   what a failure of that check means).
-- The same keys as `cowrie-db validate --config`; from psql, e.g.
--   SELECT * FROM validate_verdict(NULL, '{"thresholds": {"coverage": 99}}');
-- Bad values raise 22023 naming the key. Locks: none.
CREATE OR REPLACE FUNCTION validate_settings(p_settings jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $fn$
DECLARE
    s   jsonb := COALESCE(p_settings, '{}');
    v   jsonb;
    k   record;
BEGIN
    IF jsonb_typeof(s) <> 'object' THEN
        RAISE EXCEPTION 'validate_settings: settings must be a JSON object (got %)', jsonb_typeof(s)
            USING ERRCODE = 'invalid_parameter_value', DETAIL = left(s::text, 200),
                  HINT = 'e.g. ''{"thresholds": {"coverage": 95}}''; ''{}'' takes the runbooks'' defaults.';
    END IF;
    v := jsonb_build_object(
        'thresholds', jsonb_build_object('coverage', 95, 'accuracy', 99, 'speedup', 5, 'inventoryCoverage', 95, 'minServerVersion', 13)
                      || COALESCE(s -> 'thresholds', '{}'),
        'accuracy', jsonb_build_object('sampleSize', 1000, 'seed', 0) || COALESCE(s -> 'accuracy', '{}'),
        'readiness', jsonb_build_object('sampleSize', 2000, 'batchSize', 1000) || COALESCE(s -> 'readiness', '{}'),
        'performance', jsonb_build_object('runs', 5, 'country', 'CN', 'ipType', 'DATACENTER', 'snowshoeMinIps', 100)
                       || COALESCE(s -> 'performance', '{}'),
        'severity', COALESCE(s -> 'severity', '{}'));
    FOR k IN
        SELECT * FROM (VALUES
            ('thresholds', 'coverage', 0, 100), ('thresholds', 'accuracy', 0, 100), ('thresholds', 'speedup', 0, 1000),
            ('thresholds', 'inventoryCoverage', 0, 100), ('thresholds', 'minServerVersion', 9, 100),
            ('accuracy', 'sampleSize', 1, 10000000), ('accuracy', 'seed', 0, 2147483647),
            ('readiness', 'sampleSize', 1, 1000000), ('readiness', 'batchSize', 1, 1000000),
            ('performance', 'runs', 1, 100), ('performance', 'snowshoeMinIps', 0, 1000000000)) x(sect, key, lo, hi)
    LOOP
        IF jsonb_typeof(v -> k.sect -> k.key) IS DISTINCT FROM 'number'
           OR (v -> k.sect ->> k.key)::numeric NOT BETWEEN k.lo AND k.hi THEN
            RAISE EXCEPTION 'validate_settings: %.% must be a number from % to % (got %)', k.sect, k.key, k.lo, k.hi, v -> k.sect -> k.key
                USING ERRCODE = 'invalid_parameter_value', DETAIL = format('settings: %s', left(s::text, 200)),
                      HINT = 'Leave the key out to take the runbooks'' default (see validate_settings.sql).';
        END IF;
    END LOOP;
    IF (v #>> '{performance,country}') !~ '^[A-Z]{2}$' THEN
        RAISE EXCEPTION 'validate_settings: performance.country must be a 2-letter upper-case country code (got %)', v #> '{performance,country}'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('settings: %s', left(s::text, 200)), HINT = 'e.g. "CN".';
    END IF;
    IF jsonb_typeof(v -> 'severity') <> 'object' OR EXISTS (
        SELECT 1 FROM jsonb_each(v -> 'severity') e
        WHERE e.value #>> '{}' NOT IN ('CRITICAL', 'ERROR', 'WARNING', 'INFO') OR jsonb_typeof(e.value) <> 'string') THEN
        RAISE EXCEPTION 'validate_settings: severity must map check ids to CRITICAL, ERROR, WARNING or INFO (got %)', v -> 'severity'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('settings: %s', left(s::text, 200)),
                  HINT = 'e.g. {"performance.speedup": "ERROR"} makes the advisory speedup check blocking.';
    END IF;
    RETURN v;
END
$fn$;
