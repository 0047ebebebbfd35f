/**
 * `refresh-grant keys rotate|list`: signing key rotation without downtime. A new key is stored at
 * once; running servers publish it at their next key reload (every minute, or at once on
 * SIGHUP) and sign with it from its activation time (`--activate-after`, default 120 s), so
 * every instance publishes it before a token signed with it exists.
 */
import type { SigningKeyRecord } from '@refresh-grant/server';
import { table, time, withServer, withStore } from './common.ts';
import type { CliIo, Options } from './options.ts';

/** How often `serve` reloads keys (`keyReloadIntervalSeconds` of the server; not imported, to start fast). */
const reloadSeconds = 60;

/** `keys rotate`. */
export async function rotate(options: Options, io: CliIo): Promise<number> {
  const activateAfter = options.number('activate-after');
  return withServer(options, async (server, store) => {
    const now = Math.floor(Date.now() / 1000);
    const { kid, activatesAt } = await server.rotateKeys({ activateAfter });
    const retiring = (await store.listSigningKeys()).filter((k) => k.kid !== kid && k.retiredAt === activatesAt);
    if (options.flag('json')) {
      io.stdout(JSON.stringify({ kid, published_by: now + reloadSeconds, activates_at: activatesAt, retiring: retiring.map((k) => ({ kid: k.kid, published_until: k.removeAfter })) }) + '\n');
    } else {
      io.stdout(
        `new signing key ${kid}\n` +
          `  published: by ${time(now + reloadSeconds)} on every running server (they reload keys every minute; SIGHUP reloads at once)\n` +
          `  signs from: ${time(activatesAt)} (in ${activatesAt - now} s)\n` +
          retiring.map((k) => `  ${k.kid} stops signing then, and stays published until ${time(k.removeAfter)}\n`).join(''),
      );
    }
    if (activatesAt - now < reloadSeconds) {
      io.stderr(`warning: the key signs in less than ${reloadSeconds} s: a server that has not reloaded its keys by then may not publish it yet (send SIGHUP to every server now)\n`);
    }
    return 0;
  });
}

/** `keys list`. */
export async function list(options: Options, io: CliIo): Promise<number> {
  return withStore(options, async (store) => {
    const now = Math.floor(Date.now() / 1000);
    const keys = withStatus(await store.listSigningKeys(), now);
    if (options.flag('json')) {
      io.stdout(JSON.stringify(keys.map((k) => ({ kid: k.kid, alg: k.alg, status: k.status, signs_from: k.signs ? k.createdAt : undefined, signs_until: k.until, published_until: k.removeAfter }))) + '\n');
      return 0;
    }
    io.stdout(
      table(
        keys.map((k) => ({
          kid: k.kid,
          alg: k.alg,
          status: k.status,
          signs_from: k.signs ? time(k.createdAt) : '',
          signs_until: time(k.until),
          published_until: k.removeAfter === undefined ? '(while it signs)' : time(k.removeAfter),
        })),
      ),
    );
    return 0;
  });
}

/**
 * What each key does at `now`, as the servers' key rings decide it: a key signs from its
 * `createdAt` until it is retired or a later key starts signing, whichever comes first; a key
 * retired before it started (replaced while pending) never signs.
 */
function withStatus(records: SigningKeyRecord[], now: number) {
  const sorted = [...records].sort((a, b) => a.createdAt - b.createdAt);
  const signs = (k: SigningKeyRecord) => !(k.retiredAt !== undefined && k.retiredAt <= k.createdAt);
  return sorted.map((k, i) => {
    const next = sorted.slice(i + 1).find(signs);
    const until = next !== undefined && (k.retiredAt === undefined || next.createdAt < k.retiredAt) ? next.createdAt : k.retiredAt;
    const status = !signs(k)
      ? 'never signs'
      : k.createdAt > now
        ? 'pending'
        : until === undefined || until > now
          ? 'signing'
          : k.removeAfter !== undefined && k.removeAfter <= now
            ? 'removed'
            : 'retired';
    return { ...k, signs: signs(k), until: signs(k) ? until : undefined, status };
  });
}
