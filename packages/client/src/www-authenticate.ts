/** One challenge of a `WWW-Authenticate` header (RFC 9110 section 11.6.1). */
export interface WWWAuthenticateChallenge {
  /** Auth scheme, lowercased (`bearer`, `dpop`, `basic`, ...). */
  readonly scheme: string;
  /** Auth parameters, names lowercased, quoted-string values unescaped. */
  readonly parameters: Readonly<Record<string, string>>;
  /** The token68 form, when the challenge uses it instead of parameters. */
  readonly token68?: string;
}

const CHAR = "[!#$%&'*+.^_`|~0-9A-Za-z-]";
const TOKEN = `${CHAR}+`;
// An auth-param (`name=value` or `name="quoted"`), else a scheme optionally followed by a token68.
const PART = new RegExp(
  `[\\s,]*(?:(${TOKEN})\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|(${TOKEN}))|(${TOKEN})(?!${CHAR}|\\s*=)(?:\\s+([0-9A-Za-z._~+/-]+=*)(?=\\s*(?:,|$)))?)`,
  'y',
);

/**
 * Parses a `WWW-Authenticate` header value into its challenges. Never throws: input it cannot
 * read ends the parse.
 *
 * @example
 * parseWWWAuthenticate('Bearer error="invalid_token", error_description="expired"')
 * // [{ scheme: 'bearer', parameters: { error: 'invalid_token', error_description: 'expired' } }]
 */
export function parseWWWAuthenticate(header: string | null | undefined): WWWAuthenticateChallenge[] {
  const challenges: { scheme: string; parameters: Record<string, string>; token68?: string }[] = [];
  if (!header) return challenges;
  PART.lastIndex = 0;
  let match: RegExpExecArray | null;
  while (PART.lastIndex < header.length && (match = PART.exec(header))) {
    const current = challenges[challenges.length - 1];
    if (match[1]) {
      if (current) current.parameters[match[1].toLowerCase()] = match[2]?.replace(/\\(.)/g, '$1') ?? match[3];
    } else if (match[4]) {
      challenges.push({ scheme: match[4].toLowerCase(), parameters: {}, ...(match[5] && { token68: match[5] }) });
    } else break;
  }
  return challenges;
}
