// Removes secrets structurally: the password component of a connection URL, the value
// of libpq's password keyword (`password=...`), and fields named like a secret in a
// document. It never searches text for a password's characters: a password that is
// also an ordinary word (`true`, `run`, `cowrie`) must not corrupt output.

const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@\s]*)@/gi;
/** libpq's conninfo keyword `password=...` (also as a URL query parameter), as a word of its own. */
const KEYWORD_PASSWORD = /(^|[\s?&;,])(password)(\s*=\s*)('[^']*'|"[^"]*"|[^\s&;,"']+)/gi;

/** Field names whose values are secrets wherever they appear in a document. */
const SECRET_FIELD = /^(password|passwd|pwd|secret|pgpassword|sslpassword)$/i;

/** Text with every URL password component and password keyword value replaced by ***. */
export function redact(text: string): string {
  return text.replace(URL_PASSWORD, '$1***@').replace(KEYWORD_PASSWORD, '$1$2$3***');
}

/** A copy of a JSON-like value with secret fields set to *** and URL passwords in strings redacted. */
export function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map(redactValue);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SECRET_FIELD.test(k) && v !== null && v !== undefined ? '***' : redactValue(v)]),
    );
  }
  return value;
}

/** JSON text of a value, redacted structurally (for files and --json documents). */
export function redactedJson(value: unknown): string {
  return JSON.stringify(redactValue(value));
}
