// The value parsers of the SQLite backfill: TypeScript ports of the PostgreSQL
// functions sql/functions/backfill_{parse_ip,parse_asn,parse_country,parse_ip_type,
// parse_timestamptz,spur_ip_type}.sql, registered as SQLite functions (see open.ts)
// so that the SQLite snapshot query (sql.ts) reads like backfill_snapshot_source.
// Same inputs, same results (the parity test in test/sqlite.test.ts runs them against
// the PostgreSQL functions); the one documented difference is in parseTimestamp
// (named time zones).
// None of them ever throws: a value that cannot be read gives null.

const BLANKS = ' \t\r\n';

/** PostgreSQL's btrim(s, E' \t\r\n'). */
export function btrim(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && BLANKS.includes(s[a]!)) a++;
  while (b > a && BLANKS.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

/**
 * backfill_parse_asn: 4134, '4134', 'AS4134', 'as 4134' -> 4134 (an 'AS' prefix in any
 * case, then blanks, then at most 10 digits, 1 .. 2147483647); anything else -> null.
 */
export function parseAsn(raw: string | null | undefined): number | null {
  if (raw === null || raw === undefined) return null;
  let t = btrim(String(raw));
  if (t.slice(0, 2).toUpperCase() === 'AS') t = t.slice(2).replace(/^[ \t\r\n]+/, '');
  if (t === '' || t.length > 10 || !/^[0-9]+$/.test(t)) return null;
  const n = Number(t);
  return n >= 1 && n <= 2147483647 ? n : null;
}

/** backfill_parse_country: trimmed and upper-cased, must then be two letters A-Z ('XX' included); else null. */
export function parseCountry(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const v = btrim(String(raw)).toUpperCase();
  return /^[A-Z]{2}$/.test(v) ? v : null;
}

/** The types the upstream loader prefers when several are present (backfill_parse_ip_type), best first. */
const PREFERRED_TYPES = ['VPN', 'TOR', 'PROXY', 'DATACENTER', 'RESIDENTIAL', 'MOBILE'];

/** A JSON string trimmed and upper-cased; anything else, or blank -> null. */
function typeText(v: unknown): string | null {
  const t = typeof v === 'string' ? btrim(v).toUpperCase() : '';
  return t === '' ? null : t;
}

/** backfill_parse_ip_type on a parsed value: a string gives itself, an array its preferred (else first) non-blank string. */
function typeOfTypes(v: unknown): string | null {
  if (!Array.isArray(v)) return typeText(v);
  const rank = (t: string): number => (PREFERRED_TYPES.includes(t) ? PREFERRED_TYPES.indexOf(t) : 6);
  let best: string | null = null;
  for (const t of v.map(typeText)) if (t !== null && (best === null || rank(t) < rank(best))) best = t;
  return best;
}

function parseJson(text: string | null | undefined): unknown {
  try {
    return text === null || text === undefined ? undefined : JSON.parse(String(text));
  } catch {
    return undefined;
  }
}

/**
 * backfill_parse_ip_type, from JSON text (spur.client.types, ip_inventory.ip_types): a
 * string gives itself; an array the element the upstream loader prefers, VPN > TOR >
 * PROXY > DATACENTER > RESIDENTIAL > MOBILE, else its first non-blank string; trimmed and
 * upper-cased. JSON null, '', [], numbers, booleans, objects, invalid JSON -> null.
 */
export function parseIpType(json: string | null | undefined): string | null {
  return typeOfTypes(parseJson(json));
}

/**
 * backfill_spur_ip_type, from the JSON text of a spur member: the list form's element
 * [3], or the object form's client.types (as parseIpType), else its infrastructure.
 */
export function spurIpType(json: string | null | undefined): string | null {
  const v = parseJson(json);
  if (Array.isArray(v)) return typeText(v[3]);
  if (typeof v !== 'object' || v === null) return null;
  const o = v as { client?: { types?: unknown } | null; infrastructure?: unknown };
  return typeOfTypes(o.client?.types) ?? typeText(o.infrastructure);
}

// ---------------------------------------------------------------------------
// IP addresses: PostgreSQL's inet input (inet_net_pton) and host() output
// (inet_net_ntop), for single host addresses.

const IPV4_CANONICAL = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/** Prefix length digits after '/', or null (getbits: no leading zeros, at most `max`). */
function getbits(s: string, max: number, leadingZeros: boolean): number | null {
  if (!/^[0-9]+$/.test(s) || (!leadingZeros && s.length > 1 && s[0] === '0')) return null;
  const n = Number(s);
  return n <= max ? n : null;
}

/**
 * inet_net_pton_ipv4: decimal octets, leading zeros allowed ('1.2.3.04' = 1.2.3.4),
 * optional '/bits'. Only a host address (four octets, no prefix or /32) is returned.
 */
function parseIpv4(v: string): number[] | null {
  const slash = v.indexOf('/');
  const addr = slash >= 0 ? v.slice(0, slash) : v;
  if (slash >= 0 && getbits(v.slice(slash + 1), 32, true) !== 32) return null;
  const parts = addr.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^[0-9]+$/.test(p)) return null;
    let n = 0;
    for (const ch of p) {
      n = n * 10 + Number(ch);
      if (n > 255) return null;
    }
    out.push(n);
  }
  return out;
}

/** getv4 of inet_cidr_pton_ipv6: an embedded dotted quad, no leading zeros, optional '/bits'. */
function getv4(s: string): { bytes: number[]; bits: number | null } | null {
  const slash = s.indexOf('/');
  let bits: number | null = null;
  if (slash >= 0) {
    bits = getbits(s.slice(slash + 1), 128, false);
    if (bits === null) return null;
  }
  const parts = (slash >= 0 ? s.slice(0, slash) : s).split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
    out.push(Number(p));
  }
  return { bytes: out, bits };
}

/** inet_cidr_pton_ipv6: 16 bytes and the prefix length (128 when none), or null. */
function parseIpv6(s: string): { bytes: number[]; bits: number } | null {
  if (s.startsWith(':') && !s.startsWith('::')) return null;
  const bytes: number[] = [];
  let bits: number | null = null;
  let colonp = -1;
  let i = s.startsWith('::') ? 1 : 0;
  let curtok = i;
  let val = 0;
  let digits = 0;
  let sawXdigit = false;
  for (; i < s.length; i++) {
    const ch = s[i]!;
    const hex = '0123456789abcdef'.indexOf(ch.toLowerCase());
    if (hex >= 0) {
      val = (val << 4) | hex;
      if (++digits > 4) return null;
      sawXdigit = true;
      continue;
    }
    if (ch === ':') {
      curtok = i + 1;
      if (!sawXdigit) {
        if (colonp >= 0) return null;
        colonp = bytes.length;
        continue;
      } else if (i + 1 >= s.length) {
        return null;
      }
      if (bytes.length + 2 > 16) return null;
      bytes.push((val >> 8) & 0xff, val & 0xff);
      sawXdigit = false;
      digits = 0;
      val = 0;
      continue;
    }
    if (ch === '.' && bytes.length + 4 <= 16) {
      const v4 = getv4(s.slice(curtok));
      if (!v4) return null;
      bytes.push(...v4.bytes);
      bits = v4.bits;
      sawXdigit = false;
      break;
    }
    if (ch === '/') {
      bits = getbits(s.slice(i + 1), 128, false);
      if (bits === null) return null;
      break;
    }
    return null;
  }
  if (sawXdigit) {
    if (bytes.length + 2 > 16) return null;
    bytes.push((val >> 8) & 0xff, val & 0xff);
  }
  if (colonp >= 0) {
    if (bytes.length === 16) return null;
    const tail = bytes.splice(colonp);
    while (bytes.length + tail.length < 16) bytes.push(0);
    bytes.push(...tail);
  }
  return bytes.length === 16 ? { bytes, bits: bits ?? 128 } : null;
}

/** inet_net_ntop_ipv6 (host()): longest run of zero words as '::', embedded IPv4 for ::a.b.c.d and ::ffff:a.b.c.d. */
function formatIpv6(b: number[]): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (cur.base === -1) cur = { base: i, len: 1 };
      else cur.len++;
    } else if (cur.base !== -1) {
      if (best.base === -1 || cur.len > best.len) best = cur;
      cur = { base: -1, len: 0 };
    }
  }
  if (cur.base !== -1 && (best.base === -1 || cur.len > best.len)) best = cur;
  if (best.base !== -1 && best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 7 && words[7] !== 0x0001) || (best.len === 5 && words[5] === 0xffff))) {
      out += `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
      return out;
    }
    out += words[i]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}

/**
 * backfill_parse_ip: the canonical host text of a single IPv4/IPv6 address (the form
 * of ip_inventory.ip_address, '1.2.3.4/32' -> '1.2.3.4'), or null: garbage, a network
 * with a shorter prefix ('1.2.3.0/24'), a zone id ('fe80::1%eth0'), blank.
 */
export function parseIp(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const v = btrim(String(raw));
  if (v === '' || v.length > 49) return null;
  if (IPV4_CANONICAL.test(v)) return v;
  if (v.includes(':')) {
    const r = parseIpv6(v);
    return r && r.bits === 128 ? formatIpv6(r.bytes) : null;
  }
  const o = parseIpv4(v);
  return o ? o.join('.') : null;
}

// ---------------------------------------------------------------------------
// Timestamps. The SQLite path stores every timestamp it writes as UTC text
// 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (microseconds, like timestamptz): fixed width, so
// text order is time order, and SQLite's date functions read it.

/** Days since 1970-01-01 of a proleptic Gregorian date (no Date object: years < 100 work). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z0: number): [number, number, number] {
  const z = z0 + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d];
}

function daysInMonth(y: number, m: number): number {
  return daysFromCivil(m === 12 ? y + 1 : y, m === 12 ? 1 : m + 1, 1) - daysFromCivil(y, m, 1);
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** Microseconds since the epoch (a bigint: exact) as 'YYYY-MM-DDTHH:MM:SS.ffffffZ'. */
export function formatMicros(us: bigint): string {
  const dayUs = 86_400_000_000n;
  let days = us / dayUs;
  let rest = us % dayUs;
  if (rest < 0n) {
    rest += dayUs;
    days -= 1n;
  }
  const [y, mo, d] = civilFromDays(Number(days));
  const sec = Number(rest / 1_000_000n);
  const frac = Number(rest % 1_000_000n);
  return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(Math.floor(sec / 3600), 2)}:${pad(Math.floor(sec / 60) % 60, 2)}:${pad(sec % 60, 2)}.${pad(frac, 6)}Z`;
}

/** Fraction digits ('.5', '.1234567') to microseconds, rounded half up like PostgreSQL. */
function fracMicros(frac: string | undefined): bigint {
  if (!frac || frac.length < 2) return 0n;
  const digits = frac.slice(1);
  const head = BigInt(digits.slice(0, 6).padEnd(6, '0'));
  return digits.length > 6 && Number(digits[6]) >= 5 ? head + 1n : head;
}

/** Offset text ('Z', '+02', '-0530', '+05:30', 'UTC') to seconds east of UTC, or null when out of range. */
function offsetSeconds(off: string | undefined): number | null {
  if (!off || /^(z|utc|gmt)$/i.test(off)) return 0;
  const m = /^([+-])([0-9]{1,2})(?::?([0-9]{2}))?$/.exec(off);
  if (!m) return null;
  const h = Number(m[2]);
  const mi = Number(m[3] ?? 0);
  if (h > 15 || mi > 59) return null;
  return (m[1] === '-' ? -1 : 1) * (h * 3600 + mi * 60);
}

/**
 * backfill_parse_timestamptz, as the canonical UTC text: a date-time that starts
 * 'YYYY-M-D' (ISO 8601: 'T' or blank before the time, hours 0-24, optional fraction,
 * an offset '+HH', '+HHMM', '+HH:MM', or the zone words Z, UTC, GMT; no zone = UTC),
 * or Unix epoch seconds (9-11 digits, optional fraction of up to 6 digits). Anything
 * else (including 'now', '2025-02-30', a value shorter than 9 characters) -> null.
 * Difference from PostgreSQL, whose date/time input is far more permissive: named
 * zones ('Europe/Paris', 'CEST') and PostgreSQL's other free-form syntaxes are not
 * read here (-> null, so the row is rejected as bad_enriched_at).
 */
export function parseTimestamp(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const v = btrim(String(raw));
  if (!/^[0-9]/.test(v) || v.length < 9 || v.length > 64) return null;
  const epoch = /^([0-9]{9,11})(\.[0-9]{0,6})?$/.exec(v);
  if (epoch) return formatMicros(BigInt(epoch[1]!) * 1_000_000n + fracMicros(epoch[2]));
  if (v[4] !== '-') return null;
  const m = /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[T ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(\.[0-9]*)?)?)? ?(Z|UTC|GMT|[+-][0-9]{1,2}(?::?[0-9]{2})?)?$/i.exec(v);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return null;
  // 24:00:00 is midnight at the end of the day, :60 a leap second (the next minute), as in PostgreSQL.
  if (h === 24 ? mi !== 0 || s !== 0 || fracMicros(m[7]) !== 0n : h > 23 || mi > 59 || s > 60) return null;
  const off = offsetSeconds(m[8]);
  if (off === null) return null;
  const secs = BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(h * 3600 + mi * 60 + s - off);
  return formatMicros(secs * 1_000_000n + fracMicros(m[7]));
}
