/**
 * Small cryptographic helpers shared by the core: random handles, hashing for storage,
 * constant-time comparison, and authenticated encryption for the few values that must be
 * recoverable (a rotated token's successor, signing keys, `client_secret_jwt` secrets).
 */
import { createCipheriv, createDecipheriv, createSecretKey, hash, hkdfSync, randomFillSync, timingSafeEqual } from 'node:crypto';

/**
 * Random bytes are drawn from the CSPRNG 4 KiB at a time and handed out once each: one
 * `randomFillSync` per ~100 tokens instead of one per token (a hot-path saving, the same
 * generator). Every returned view is consumed (encoded or copied) before the next call.
 */
const randomPool = Buffer.allocUnsafe(4096);
let randomOffset = randomPool.length;

function randomView(size: number): Buffer {
  if (randomOffset + size > randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  randomOffset += size;
  return randomPool.subarray(randomOffset - size, randomOffset);
}

/** Prefixes that make our handles recognisable (secret scanners, logs, support). */
export const tokenPrefixes = {
  refreshToken: 'rg_rt_',
  accessToken: 'rg_at_',
  clientSecret: 'rg_cs_',
} as const;

/**
 * A random handle: `prefix` plus 32 random bytes (256 bits) in base64url.
 *
 * @example
 * ```ts
 * const refreshToken = randomHandle(tokenPrefixes.refreshToken) // 'rg_rt_...'
 * ```
 */
export function randomHandle(prefix: string): string {
  return prefix + randomView(32).toString('base64url');
}

/** Hex digits of a handle's issue time (milliseconds since the epoch; enough until the year 10889). */
const timeDigits = 12;
const timePattern = /^[0-9a-f]{12}$/;

/**
 * A random handle whose storage key sorts by issue time: `prefix`, the issue time in ms (12
 * hex digits), then 32 random bytes (256 bits) in base64url. Stored under {@link handleKey},
 * new tokens go to the end of the store's index, and the rows a rotation reads and writes
 * (a token issued moments ago and its successor) sit in the same few pages, instead of two
 * random pages of a large index per rotation. The time is not secret: the holder knows when
 * the token was issued.
 *
 * @example
 * ```ts
 * const refreshToken = timeOrderedHandle(tokenPrefixes.refreshToken) // 'rg_rt_019a...'
 * const key = handleKey(refreshToken, tokenPrefixes.refreshToken)   // '019a....<sha256>'
 * ```
 */
export function timeOrderedHandle(prefix: string): string {
  return prefix + Date.now().toString(16).padStart(timeDigits, '0') + randomView(32).toString('base64url');
}

/**
 * The key a handle is stored under: never the handle, always its SHA-256; for a handle of
 * {@link timeOrderedHandle}'s form, prefixed with its issue time so that keys sort by issue
 * time. A presented handle that is not of that form (one issued by {@link randomHandle}
 * before) gets the plain hash it was stored under.
 */
export function handleKey(handle: string, prefix: string): string {
  const hash = sha256(handle);
  if (handle.length !== prefix.length + timeDigits + 43 || !handle.startsWith(prefix)) return hash;
  const time = handle.slice(prefix.length, prefix.length + timeDigits);
  return timePattern.test(time) ? time + '.' + hash : hash;
}

/** The storage key of a refresh token ({@link handleKey}). */
export function refreshTokenKey(token: string): string {
  return handleKey(token, tokenPrefixes.refreshToken);
}

/** The storage key of an opaque access token ({@link handleKey}). */
export function accessTokenKey(token: string): string {
  return handleKey(token, tokenPrefixes.accessToken);
}

/**
 * A random identifier (client ids, family ids, `jti`): 16 bytes, base64url. Not a secret. Never
 * begins with `-`, so that it can follow a command-line flag (`--family ID`) as a value.
 */
export function randomId(): string {
  const id = randomView(16).toString('base64url');
  return id.charCodeAt(0) === 45 /* - */ ? `A${id.slice(1)}` : id;
}

/** base64url SHA-256 of a string: how tokens and secrets are stored. */
export function sha256(value: string): string {
  // crypto.hash: the one-shot form, several times cheaper than createHash for short inputs.
  return hash('sha256', value, 'base64url');
}

/** Constant-time equality of two strings (false, in constant time for equal lengths, when they differ). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) {
    // Compare against itself so that the time taken does not depend on where they differ.
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

/** Derives a 32-byte key from input key material and a purpose label (HKDF-SHA256). */
export function deriveKey(ikm: string | Uint8Array, label: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), label, 32));
}

/**
 * Encrypts `plaintext` with AES-256-GCM under `key`; `aad` binds the ciphertext to its context.
 * Output: base64url(iv || tag || ciphertext).
 */
export function seal(key: Uint8Array, plaintext: string, aad = ''): string {
  const iv = Buffer.from(randomView(12));
  // A KeyObject: createCipheriv with raw key bytes costs several times more on Node 24.
  const cipher = createCipheriv('aes-256-gcm', createSecretKey(key), iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url');
}

/** Reverses {@link seal}; throws if the key, `aad` or ciphertext do not match. */
export function unseal(key: Uint8Array, sealed: string, aad = ''): string {
  const buf = Buffer.from(sealed, 'base64url');
  if (buf.length < 28) throw new Error('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', createSecretKey(key), buf.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(buf.subarray(12, 28));
  return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]).toString('utf8');
}

const successorLabel = 'refresh-grant successor v2\0';
const successorPrefix = 'v2.';

/**
 * Seals a rotated token's successor so that only someone presenting the parent can recover it
 * (lost-response retry): the successor XOR a one-time pad, SHA-512(label || parent). The parent
 * is a 256-bit random secret that seals exactly one successor, and the store keeps only its
 * SHA-256, from which the pad cannot be computed; whoever unseals checks the result against the
 * successor's stored hash. One hash per rotation (about 1.7 µs) where HKDF + AES-GCM cost 12 µs.
 */
export function sealSuccessor(parentToken: string, successorToken: string): string {
  const bytes = Buffer.from(successorToken, 'utf8');
  if (bytes.length > 64) throw new TypeError('a successor token is at most 64 bytes long');
  xorPad(bytes, parentToken);
  return successorPrefix + bytes.toString('base64url');
}

/** Recovers a successor sealed by {@link sealSuccessor} (or by the AES-GCM form of earlier versions). */
export function unsealSuccessor(parentToken: string, sealed: string): string {
  if (sealed.startsWith(successorPrefix)) {
    const bytes = Buffer.from(sealed.slice(successorPrefix.length), 'base64url');
    if (bytes.length > 64) throw new Error('sealed successor too long');
    return xorPad(bytes, parentToken).toString('utf8');
  }
  // Sealed before v2 (within the retry window of an upgrade): AES-256-GCM under an HKDF key.
  return unseal(deriveKey(parentToken, 'refresh-grant successor v1'), sealed, 'successor');
}

function xorPad(bytes: Buffer, parentToken: string): Buffer {
  const pad = hash('sha512', successorLabel + parentToken, 'buffer') as unknown as Buffer;
  for (let i = 0; i < bytes.length; i++) bytes[i] ^= pad[i];
  return bytes;
}
