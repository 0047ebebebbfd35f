/**
 * The key-encryption key (KEK): 32 random bytes that seal signing keys and
 * `client_secret_jwt` secrets at rest, so that a copy of the database alone yields neither.
 * It comes from `REFRESH_GRANT_KEK` (base64url) or a file created on first use with mode 0600.
 *
 * A new KEK is created only for a store that holds nothing sealed yet: with sealed material in
 * the store, a missing or different KEK is refused with a {@link KekError} that says which KEK,
 * where it was expected and how to restore it (a new one could never open what is sealed).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { unseal } from './core/crypto.ts';
import type { Store } from './core/store.ts';
import { opensSigningKey } from './core/tokens/keyring.ts';

/** Where the KEK comes from. */
export interface KekSource {
  /** base64url of 32 bytes; wins over `file`. Defaults to `process.env.REFRESH_GRANT_KEK`. */
  value?: string;
  /** A file holding the base64url KEK; created (0600) when missing. */
  file?: string;
}

/** The KEK cannot be used with this store; the message is one line an operator can act on. */
export class KekError extends Error {
  override readonly name = 'KekError';
}

/**
 * Loads the KEK, creating its file on first use (unless `create` is false: then a missing file
 * throws the `ENOENT` error of reading it).
 *
 * @example
 * ```ts
 * const kek = loadKek({ file: './refresh-grant.db.kek' })
 * ```
 */
export function loadKek(source: KekSource, options: { create?: boolean } = {}): Uint8Array {
  const value = source.value ?? process.env.REFRESH_GRANT_KEK;
  if (value) return decode(value, 'REFRESH_GRANT_KEK');
  if (!source.file) throw new TypeError('a KEK value or file is required');
  try {
    return decode(readFileSync(source.file, 'utf8').trim(), source.file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || options.create === false) throw err;
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

/**
 * The KEK for `store`: loaded (or, for a store with nothing sealed yet, created) from `source`,
 * and checked against what the store holds sealed. Throws {@link KekError} when the store holds
 * sealed material and the KEK is missing or is not the one it was sealed under.
 *
 * @example
 * ```ts
 * const kek = await openKek({ file: './refresh-grant.db.kek' }, store)
 * ```
 */
export async function openKek(source: Uint8Array | KekSource, store: Pick<Store, 'listSigningKeys' | 'listClients'>): Promise<Uint8Array> {
  const sealed = await sealedMaterial(store);
  const where = describeSource(source);
  let kek: Uint8Array;
  if (source instanceof Uint8Array) kek = source;
  else {
    try {
      kek = loadKek(source, { create: sealed === undefined });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || sealed === undefined) throw err;
      throw new KekError(
        `the key-encryption key (KEK) is missing: it was expected in ${where}, and this store holds material sealed under it ` +
          `(${sealed.what}) that no new KEK can open. Restore that file from a backup (or pass the KEK itself as REFRESH_GRANT_KEK); ` +
          'a new KEK is created only for a store with nothing sealed yet.',
      );
    }
  }
  if (sealed && !sealed.opensWith(kek)) {
    throw new KekError(
      `the key-encryption key (KEK) from ${where} does not open the material this store holds sealed (${sealed.what}): ` +
        'it is not the KEK that sealed it. Restore the original KEK (the file from a backup, or its value as REFRESH_GRANT_KEK); ' +
        'a store cannot be opened with another KEK.',
    );
  }
  return kek;
}

/** What the store holds sealed under the KEK, and a check that a KEK opens it; undefined when nothing. */
async function sealedMaterial(store: Pick<Store, 'listSigningKeys' | 'listClients'>): Promise<{ what: string; opensWith(kek: Uint8Array): boolean } | undefined> {
  const keys = await store.listSigningKeys();
  if (keys.length > 0) {
    // Every key is sealed under the same KEK: the newest one tells.
    const newest = keys[keys.length - 1];
    return { what: `${keys.length} signing key${keys.length === 1 ? '' : 's'}`, opensWith: (kek) => opensSigningKey(newest, kek) };
  }
  const client = (await store.listClients()).find((c) => c.secretSealed !== undefined);
  if (!client) return undefined;
  return {
    what: `the client_secret_jwt secret of client ${client.clientId.slice(0, 200)}`,
    opensWith: (kek) => {
      try {
        unseal(kek, client.secretSealed!, 'client-secret:' + client.clientId);
        return true;
      } catch {
        return false;
      }
    },
  };
}

function describeSource(source: Uint8Array | KekSource): string {
  if (source instanceof Uint8Array) return 'the kek option';
  if (source.value) return 'the KEK value passed in';
  if (process.env.REFRESH_GRANT_KEK) return 'REFRESH_GRANT_KEK';
  return source.file ? `the file ${resolve(source.file)}` : 'no file';
}

function decode(value: string, where: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(value, 'base64url'));
  if (bytes.length !== 32) throw new TypeError(`${where}: the KEK must be 32 bytes in base64url`);
  return bytes;
}
