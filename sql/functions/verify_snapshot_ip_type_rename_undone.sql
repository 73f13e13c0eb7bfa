-- verify_snapshot_ip_type_rename_undone(expected_type): the verify step of
-- sql/rollback/undo_snapshot_ip_type_rename.sql. Raises (fails loudly) unless session_summaries
-- has snapshot_ip_types (of expected_type when given) and no snapshot_ip_type.
-- Locks: none (catalog only).
CREATE OR REPLACE FUNCTION verify_snapshot_ip_type_rename_undone(p_expected_type text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    s record;
BEGIN
    SELECT * INTO s FROM snapshot_ip_type_state();
    IF s.state <> 'plural' THEN
        RAISE EXCEPTION 'VERIFY FAILED: session_summaries should have only snapshot_ip_types; state is % (snapshot_ip_type %, snapshot_ip_types %)',
                        s.state, coalesce(s.singular_type, 'absent'), coalesce(s.plural_type, 'absent')
            USING ERRCODE = 'data_exception';
    END IF;
    IF p_expected_type IS NOT NULL AND s.plural_type <> p_expected_type THEN
        RAISE EXCEPTION 'VERIFY FAILED: session_summaries.snapshot_ip_types is %, expected %', s.plural_type, p_expected_type
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN format('verified: session_summaries.snapshot_ip_types (%s) present, snapshot_ip_type absent', s.plural_type);
END
$fn$;
