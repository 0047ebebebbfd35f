/**
 * A TCP proxy in front of PostgreSQL, so that a test can make the database fail on cue and
 * deterministically, without touching the server other tests share: cut every connection and
 * refuse new ones (a restart, a failover), or swallow the answer to a COMMIT that PostgreSQL
 * did execute (a connection lost after the commit: the outcome is unknown to the store).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** What a test can do to the connections through the proxy. */
export interface TcpProxy {
  /** The port the proxy listens on (the same across {@link TcpProxy.down} and {@link TcpProxy.up}). */
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Resets every open connection and stops accepting: connecting fails with ECONNREFUSED. */
  down(): Promise<void>;
  /** Accepts connections again on the same port (and forwards them again after {@link TcpProxy.silence}). */
  up(): Promise<void>;
  /**
   * Resets every open connection, then accepts new ones but never forwards or answers them:
   * a database host that swallows packets. Connecting then fails only by timing out.
   */
  silence(): void;
  /**
   * The next simple query containing `COMMIT` is forwarded, and once PostgreSQL answers it
   * (it committed), that connection is reset without passing the answer on. Resolves when done.
   */
  loseNextCommitAnswer(): Promise<void>;
  /**
   * The answer to the next simple query containing `marker` is passed on whole, immediately
   * followed, in the same read, by PostgreSQL's FATAL 57P01 and the end of the connection: what
   * the store sees when its backend is terminated (`pg_terminate_backend`) right after
   * answering, while the store holds the connection between two statements with no query
   * running. Resolves when done.
   */
  terminateAfterNextAnswer(marker: string): Promise<void>;
  /** Closes everything. */
  close(): Promise<void>;
}

const commit = Buffer.from('COMMIT');

/** A backend's ErrorResponse for `pg_terminate_backend`: FATAL 57P01. */
function adminShutdown(): Buffer {
  const fields = Buffer.from(
    'SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0',
    'latin1',
  );
  const head = Buffer.alloc(5);
  head[0] = 0x45; // 'E'
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

/** True when `chunk` ends with a ReadyForQuery message ('Z', length 5, status). */
function endsWithReadyForQuery(chunk: Buffer): boolean {
  const at = chunk.length - 6;
  return at >= 0 && chunk[at] === 0x5a && chunk.readInt32BE(at + 1) === 5;
}

/**
 * Starts a proxy on a free loopback port to `target`.
 *
 * @example
 * ```ts
 * const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 })
 * await proxy.down(); await proxy.up(); await proxy.close()
 * ```
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; server: Socket }>();
  let accepted = 0;
  let loseCommit: (() => void) | undefined;
  let terminate: { marker: Buffer; done: () => void } | undefined;
  let server: Server | undefined;
  let port = 0;
  let silent = false;
  const held = new Set<Socket>();

  const onConnection = (client: Socket) => {
    accepted++;
    if (silent) {
      held.add(client);
      client.on('error', () => {}).on('close', () => held.delete(client));
      return;
    }
    const upstream = connect(target);
    const pair = { client, server: upstream };
    pairs.add(pair);
    let swallowing = false;
    let terminating: (() => void) | undefined;
    client.on('data', (chunk: Buffer) => {
      if (terminate && chunk[0] === 0x51 && chunk.includes(terminate.marker)) {
        terminating = terminate.done;
        terminate = undefined;
      }
      // A simple-protocol Query message ('Q') that carries COMMIT.
      if (loseCommit && chunk[0] === 0x51 && chunk.includes(commit)) {
        swallowing = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (swallowing) {
        // PostgreSQL answered the COMMIT: it is durable. The store never hears of it.
        const done = loseCommit;
        loseCommit = undefined;
        client.resetAndDestroy();
        upstream.destroy();
        done?.();
        return;
      }
      if (terminating && endsWithReadyForQuery(chunk)) {
        // The whole answer, then the backend's farewell, in one write: one read for the store.
        const done = terminating;
        terminating = undefined;
        client.end(Buffer.concat([chunk, adminShutdown()]));
        upstream.destroy();
        done();
        return;
      }
      client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      if (!client.destroyed) client.resetAndDestroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer(onConnection);
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const cut = () => {
    for (const { client, server: upstream } of pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
    for (const socket of held) socket.destroy();
    held.clear();
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      cut();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });

  await listen();
  return {
    get port() {
      return port;
    },
    accepted: () => accepted,
    down: stop,
    up: async () => {
      silent = false;
      for (const socket of held) socket.destroy();
      held.clear();
      if (!server) await listen();
    },
    silence: () => {
      cut();
      silent = true;
    },
    loseNextCommitAnswer: () => new Promise<void>((resolve) => (loseCommit = resolve)),
    terminateAfterNextAnswer: (marker) => new Promise<void>((resolve) => (terminate = { marker: Buffer.from(marker), done: resolve })),
    close: stop,
  };
}

/** `url` with its host and port replaced by the proxy's. */
export function throughProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.href;
}
