-- backfill_parse_ip(raw text) -> text
--
-- Safe parse of a source IP string taken from session enrichment JSON
-- (dshield.ip.number). Returns the canonical host text of the address, the form
-- ip_inventory.ip_address uses (host(inet): lower-case, compressed IPv6,
-- '1.2.3.4/32' -> '1.2.3.4'), or NULL when the value is not a single host address:
-- garbage ('not-an-ip', '999.1.2.3', '1.2.3', 'fe80::1%eth0'), a network with a
-- shorter prefix ('1.2.3.0/24'), blank or NULL. Surrounding blanks are ignored.
-- IPv6 and private/reserved ranges are valid addresses (ip_inventory.is_bogon flags
-- the latter); leading zeros ('01.2.3.4') are read the way the inet type reads them.
--
-- Never raises for any input: the inet cast runs inside its own EXCEPTION block
-- (a subtransaction that assigns no transaction id: about 1 microsecond), so a bad
-- row can never fail the set-based statement that calls this function.
-- Locks: none (reads nothing).
CREATE OR REPLACE FUNCTION backfill_parse_ip(p_raw text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $fn$
DECLARE
    v      text := btrim(p_raw, E' \t\r\n');
    v_inet inet;
BEGIN
    IF v IS NULL OR v = '' OR length(v) > 49 THEN
        RETURN NULL;
    END IF;
    BEGIN
        v_inet := v::inet;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
    IF NOT ((family(v_inet) = 4 AND masklen(v_inet) = 32)
            OR (family(v_inet) = 6 AND masklen(v_inet) = 128)) THEN
        RETURN NULL;
    END IF;
    RETURN host(v_inet);
END
$fn$;
