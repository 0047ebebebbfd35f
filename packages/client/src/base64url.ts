/** UTF-8 bytes of a string. */
export const utf8 = (value: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(value);

/** Standard base64 of bytes (or of a string's UTF-8 bytes), with only web-standard globals. */
export function base64(input: Uint8Array | string): string {
  const bytes = typeof input === 'string' ? utf8(input) : input;
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** base64url without padding (RFC 7515 section 2). */
export const base64url = (input: Uint8Array | string): string =>
  base64(input).replace(/[+/=]/g, (c) => (c === '+' ? '-' : c === '/' ? '_' : ''));
