/**
 * The load generator, run as its own process by `bench/run.ts`: C virtual clients, each on its
 * own keep-alive connection and its own refresh token chain. Every request presents the refresh
 * token the previous response returned, so every request against a rotating server is a real
 * rotation. A warm-up window, then a measuring window; only requests that complete inside the
 * measuring window count. Prints one JSON {@link LoadResult} on stdout.
 *
 * Run: `npx node bench/load.ts CONFIG.json` (see {@link LoadConfig}).
 */
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';

/** What one measurement is. */
export interface LoadConfig {
  /** Token endpoint URLs; virtual client i uses `urls[i % urls.length]` (several server processes). */
  urls: string[];
  /** `Authorization` header value (client_secret_basic). */
  authorization: string;
  /** The first refresh token of each chain; one per virtual client. */
  chains: string[];
  warmupMs: number;
  durationMs: number;
  /**
   * `http` (default): node:http with a keep-alive Agent. `net`: a minimal HTTP/1.1 client on raw
   * sockets (one request in flight per connection, Content-Length bodies only), which costs the
   * load generator less CPU, leaving more of a small machine to the server.
   */
  driver?: 'http' | 'net';
  /** Server process ids (Linux): their CPU time in the measuring window is reported. */
  pids?: number[];
  /**
   * The target's own PostgreSQL database: the CPU time of its backends (found by their process
   * title, `postgres: USER DATABASE ...`, when the window starts) is reported likewise.
   */
  database?: string;
}

/** What one measurement gave. */
export interface LoadResult {
  concurrency: number;
  /** Successful refreshes completed in the measuring window. */
  ok: number;
  /** Failed requests (non-200, unreadable answer, network error) in the measuring window. */
  errors: number;
  /** Failures during the whole run, by status or error code. */
  errorKinds: Record<string, number>;
  /** Chains that ended (their token was refused) before the end. */
  deadChains: number;
  /** Successful refreshes per second in the measuring window. */
  throughput: number;
  /** Latency percentiles of successful requests in the measuring window, in ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /**
   * CPU time (user + system) of the server processes per successful refresh, in µs (Linux
   * only): their CPU time between two moments divided by the refreshes completed between the
   * same two moments (the window's edges, or as near after them as the load generator ran).
   */
  serverCpuUs: number;
  /** The same for the database's backends (PostgreSQL targets; NaN otherwise). */
  databaseCpuUs: number;
  /** The same for the load generator itself. */
  loadCpuUs: number;
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const clockTicks = 100;

/** CPU time (user + system) of a process so far, in µs, from /proc (NaN where unavailable). */
function processCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name, in clock ticks.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks;
  } catch {
    return NaN;
  }
}

/**
 * The two edges of the measuring window, each a sample (CPU times, refreshes completed so far)
 * taken once, by whichever comes first: the edge's timer, or the first refresh completed at or
 * after it. A busy load generator runs its timers late, and past the last request maybe not at
 * all (the last virtual client can finish, and the timer be cleared, in the same turn of the
 * event loop): so the end falls back to the end of the load, and the start is never taken
 * after the end. Figures per refresh divide what changed between the two samples by the
 * refreshes completed between them.
 */
export class WindowEdges<S> {
  start: S | undefined;
  end: S | undefined;
  readonly #from: number;
  readonly #to: number;
  readonly #sample: () => S;

  constructor(from: number, to: number, sample: () => S) {
    this.#from = from;
    this.#to = to;
    this.#sample = sample;
  }

  /** A refresh completed at `t` (the clock of `from` and `to`). */
  completed(t: number): void {
    if (t >= this.#from) this.#take('start');
    if (t >= this.#to) this.#take('end');
  }

  /** The timer of `edge` fired. */
  timer(edge: 'start' | 'end'): void {
    this.#take(edge);
  }

  /** The load is over: both edges, the end taken now if nothing took it yet. */
  finish(): { start: S; end: S } {
    this.#take('end');
    return { start: this.start!, end: this.end! };
  }

  #take(edge: 'start' | 'end'): void {
    if (edge === 'end' && this.start === undefined) this.start = this.#sample();
    if (this[edge] === undefined) this[edge] = this.#sample();
  }
}

/** The PostgreSQL backends connected to `database` now, by their process titles (Linux). */
function backendsOf(database: string): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ');
      // `postgres: [CLUSTER: ]USER DATABASE HOST(PORT) STATE` (Debian names the cluster, e.g. `15/main:`).
      if (/^postgres: (?:\S+: )?\S+ (\S+) /.exec(title)?.[1] === database) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Latency percentile of sorted samples (nearest rank). */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const headerEnd = Buffer.from('\r\n\r\n');

/**
 * One keep-alive HTTP/1.1 connection with one request in flight at a time, on a raw socket.
 * Content-Length and chunked bodies (no trailers), which is what every target sends.
 */
class RawConnection {
  readonly #host: string;
  readonly #port: number;
  #socket: Socket | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: { resolve: (r: { status: number; body: string }) => void; reject: (e: Error) => void } | undefined;

  constructor(url: URL) {
    this.#host = url.hostname;
    this.#port = Number(url.port);
  }

  #connect(): Socket {
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    const drop = (error: Error) => {
      if (this.#socket === socket) this.#socket = undefined;
      this.#buffer = Buffer.alloc(0);
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.reject(error);
    };
    socket.on('error', drop);
    socket.on('close', () => drop(Object.assign(new Error('socket closed'), { code: 'ECLOSED' })));
    this.#socket = socket;
    return socket;
  }

  send(head: string, body: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      (this.#socket ?? this.#connect()).write(head + body);
    });
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const end = this.#buffer.indexOf(headerEnd);
    if (end === -1) return;
    const head = this.#buffer.toString('latin1', 0, end);
    const match = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body: string;
    let total: number;
    if (match) {
      total = end + 4 + Number(match[1]);
      if (this.#buffer.length < total) return;
      body = this.#buffer.toString('utf8', end + 4, total);
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const parts: Buffer[] = [];
      let at = end + 4;
      for (;;) {
        const lineEnd = this.#buffer.indexOf('\r\n', at);
        if (lineEnd === -1) return;
        const size = parseInt(this.#buffer.toString('latin1', at, lineEnd), 16);
        if (this.#buffer.length < lineEnd + 2 + size + 2) return;
        if (size === 0) {
          total = lineEnd + 4;
          break;
        }
        parts.push(this.#buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts).toString('utf8');
    } else {
      this.#socket?.destroy(Object.assign(new Error('no content-length'), { code: 'ENOLENGTH' }));
      return;
    }
    this.#buffer = this.#buffer.length === total ? Buffer.alloc(0) : this.#buffer.subarray(total);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.resolve({ status: Number(head.slice(9, 12)), body });
  }

  close(): void {
    this.#socket?.destroy();
  }
}

async function run(config: LoadConfig): Promise<LoadResult> {
  const concurrency = config.chains.length;
  const targets = config.urls.map((url) => ({
    url: new URL(url),
    agent: new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency, scheduling: 'fifo' }),
  }));
  let edgesOfRun: WindowEdges<unknown> | undefined;
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let ok = 0;
  /** Successful refreshes over the whole run (the CPU figures divide by these, edge to edge). */
  let completed = 0;
  let errors = 0;
  let deadChains = 0;
  const errorKinds: Record<string, number> = {};
  const start = performance.now();
  const measureFrom = start + config.warmupMs;
  const measureTo = measureFrom + config.durationMs;

  const fail = (kind: string, at: number) => {
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    if (at >= measureFrom && at <= measureTo) errors++;
  };

  /** One refresh: resolves with the status and the body text. */
  const refresh = (target: (typeof targets)[number], token: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const body = 'grant_type=refresh_token&refresh_token=' + encodeURIComponent(token);
      const req = request(
        {
          agent: target.agent,
          host: target.url.hostname,
          port: target.url.port,
          path: target.url.pathname,
          method: 'POST',
          headers: {
            authorization: config.authorization,
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
            accept: 'application/json',
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const raw: RawConnection[] = [];
  const sendRaw = (index: number, token: string) => {
    const target = targets[index % targets.length];
    raw[index] ??= new RawConnection(target.url);
    const body = 'grant_type=refresh_token&refresh_token=' + encodeURIComponent(token);
    const head =
      `POST ${target.url.pathname} HTTP/1.1\r\nhost: ${target.url.host}\r\nauthorization: ${config.authorization}\r\n` +
      `content-type: application/x-www-form-urlencoded\r\ncontent-length: ${Buffer.byteLength(body)}\r\naccept: application/json\r\n\r\n`;
    return raw[index].send(head, body);
  };
  const send = config.driver === 'net' ? sendRaw : (index: number, token: string) => refresh(targets[index % targets.length], token);

  const virtualClient = async (index: number) => {
    let token = config.chains[index];
    let failuresInARow = 0;
    while (performance.now() < measureTo) {
      const t0 = performance.now();
      let next: string | undefined;
      let kind = '';
      try {
        const { status, body } = await send(index, token);
        if (status === 200) {
          next = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
          if (!next) kind = 'no refresh_token';
        } else {
          kind = `${status} ${((JSON.parse(body) as { error?: string }).error ?? '').slice(0, 40)}`;
        }
      } catch (error) {
        kind = (error as { code?: string }).code ?? (error as Error).message.slice(0, 40);
      }
      const t1 = performance.now();
      if (next) {
        token = next;
        failuresInARow = 0;
        completed++;
        edgesOfRun?.completed(t1);
        if (t1 >= measureFrom && t1 <= measureTo) {
          ok++;
          if (count === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[count++] = t1 - t0;
        }
        continue;
      }
      fail(kind, t1);
      // A refused token ends the chain; anything else is retried with the same token (a server
      // with a retry window answers it with the same successor).
      if (kind.includes('invalid_grant') || ++failuresInARow >= 5) {
        deadChains++;
        return;
      }
    }
  };

  const pids = config.pids ?? [];
  // Found when the window starts: the pool opens (and closes idle) connections until then.
  let databasePids: number[] | undefined;
  // Per process, so that one that exits in the window (a database backend the pool closed)
  // drops out of both edges instead of making the sum unknown.
  const cpuOf = (list: number[]) => new Map(list.map((pid) => [pid, processCpuUs(pid)]));
  const edges = new WindowEdges(measureFrom, measureTo, () => {
    databasePids ??= config.database ? backendsOf(config.database) : [];
    return { server: cpuOf(pids), database: cpuOf(databasePids), self: process.cpuUsage(), completed };
  });
  edgesOfRun = edges;
  const timers = [
    setTimeout(() => edges.timer('start'), measureFrom - performance.now()),
    setTimeout(() => edges.timer('end'), measureTo - performance.now()),
  ];
  await Promise.all(config.chains.map((_, i) => virtualClient(i)));
  timers.forEach(clearTimeout);
  const { start: first, end: last } = edges.finish();
  const cpuBetween = (from: Map<number, number>, to: Map<number, number>) => {
    let sum = 0;
    let known = 0;
    for (const [pid, end] of to) {
      const begin = from.get(pid);
      if (begin === undefined || !Number.isFinite(begin) || !Number.isFinite(end)) continue;
      sum += end - begin;
      known++;
    }
    return known > 0 ? sum : NaN;
  };
  const between = last.completed - first.completed;
  const selfUs = last.self.user + last.self.system - first.self.user - first.self.system;
  for (const t of targets) t.agent.destroy();
  for (const connection of raw) connection?.close();
  const sorted = latencies.subarray(0, count).sort();
  return {
    concurrency,
    ok,
    errors,
    errorKinds,
    deadChains,
    throughput: ok / (config.durationMs / 1000),
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    serverCpuUs: pids.length && between > 0 ? cpuBetween(first.server, last.server) / between : NaN,
    databaseCpuUs: databasePids?.length && between > 0 ? cpuBetween(first.database, last.database) / between : NaN,
    loadCpuUs: between > 0 ? selfUs / between : NaN,
  };
}

if (import.meta.main) {
  const config = JSON.parse(readFileSync(process.argv[2], 'utf8')) as LoadConfig;
  process.stdout.write(JSON.stringify(await run(config)) + '\n');
}
