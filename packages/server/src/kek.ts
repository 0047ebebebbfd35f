/**
 * The key-encryption key (KEK): 32 random bytes that seal signing keys and
 * `client_secret_jwt` secrets at rest, so that a copy of the database alone yields neither.
 * It comes from `REFRESH_GRANT_KEK` (base64url) or a file created on first use with mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

/** Where the KEK comes from. */
export interface KekSource {
  /** base64url of 32 bytes; wins over `file`. Defaults to `process.env.REFRESH_GRANT_KEK`. */
  value?: string;
  /** A file holding the base64url KEK; created (0600) when missing. */
  file?: string;
}

/**
 * Loads the KEK, creating its file on first use.
 *
 * @example
 * ```ts
 * const kek = loadKek({ file: './refresh-grant.db.kek' })
 * ```
 */
export function loadKek(source: KekSource): Uint8Array {
  const value = source.value ?? process.env.REFRESH_GRANT_KEK;
  if (value) return decode(value, 'REFRESH_GRANT_KEK');
  if (!source.file) throw new TypeError('a KEK value or file is required');
  try {
    return decode(readFileSync(source.file, 'utf8').trim(), source.file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Written whole to a temporary file, then linked into place: link(2) fails if the name
  // exists, so of two processes creating it at once one wins and the other reads a complete file.
  const tmp = `${source.file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, randomBytes(32).toString('base64url') + '\n');
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, source.file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  return decode(readFileSync(source.file, 'utf8').trim(), source.file);
}

function decode(value: string, where: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(value, 'base64url'));
  if (bytes.length !== 32) throw new TypeError(`${where}: the KEK must be 32 bytes in base64url`);
  return bytes;
}
