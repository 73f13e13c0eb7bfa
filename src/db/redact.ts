// Removes secrets from any text before it reaches a terminal, a file or a report.

const knownSecrets = new Set<string>();

/** Remember a secret (a password) so that every later redact() call hides it. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 3) knownSecrets.add(secret);
}

const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@\s]*)@/gi;
const KEYWORD_PASSWORD = /\b(password|passwd|pwd)(\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s&;,]+)/gi;

export function redact(text: string): string {
  let out = text.replace(URL_PASSWORD, '$1***@').replace(KEYWORD_PASSWORD, '$1$2***');
  for (const secret of knownSecrets) out = out.split(secret).join('***');
  return out;
}
