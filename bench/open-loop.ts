/**
 * The open-loop load generator of the benchmark's overload part (`bench/overload.ts`), run as
 * its own process: requests are sent at a fixed rate whatever the server answers, as a crowd of
 * independent clients would, never waiting for earlier answers. Each request is a real refresh
 * of its own chain (a chain is busy while its request is out; a 503 leaves its token unchanged),
 * on a connection of its own (one request at a time per connection; a new connection is opened
 * when none is idle, up to a cap; `prewarm` of them before the load starts). Prints one JSON
 * {@link OpenLoopResult} on stdout.
 *
 * Run: `npx node bench/open-loop.ts CONFIG.json` (see {@link OpenLoopConfig}).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

/** One open-loop run. */
export interface OpenLoopConfig {
  /** Token endpoint URL. */
  url: string;
  /** `Authorization` header value (client_secret_basic). */
  authorization: string;
  /** First refresh token of each chain; a request is sent only with a chain that is not busy. */
  chains: string[];
  /** Phases run one after the other: `rate` requests per second for `durationMs` (0: no load). */
  phases: Array<{ name: string; rate: number; durationMs: number }>;
  /** Most connections the generator opens. */
  maxConnections: number;
  /**
   * Connections opened before the first phase (default 512), as a crowd of clients already
   * connected would be: without them the first second is a storm of new connections that
   * overflows the listen backlog, and the measure is of TCP's SYN retries.
   */
  prewarm?: number;
  /** The server's process id: its RSS is sampled every second (Linux). */
  pid?: number;
  /**
   * After the phases: one request at a time, for up to this long, to see when the server is
   * back to answering promptly (see {@link OpenLoopResult.recoveryMs}).
   */
  recovery?: { maxMs: number; latencyMs: number; inARow: number };
  /**
   * Clients honour `Retry-After`: a chain refused with 503 is not used again for that many
   * seconds (its client waits, as RFC 9110 section 10.2.3 asks), so the requests due meanwhile
   * that find no free chain are not sent. Default false: every chain is free again at once.
   */
  honourRetryAfter?: boolean;
}

/** What happened in one second (or one phase). */
export interface Bucket {
  /** Requests due in that second (the offered load). */
  offered: number;
  /** Requests actually sent (due ones that found a free chain and a connection). */
  sent: number;
  /** 200 answers. */
  ok: number;
  /** 503 answers (shed). */
  shed: number;
  /** Other answers and network errors. */
  errors: number;
  /** p50 and p99 latency of the 200 answers, in ms, from when each request was due. */
  p50: number;
  p99: number;
  /** Server RSS at the end of the second, in MB. */
  rssMb: number;
}

/** The result of a run. */
export interface OpenLoopResult {
  /** Per phase, summed over its seconds. */
  phases: Array<{ name: string; rate: number; durationMs: number } & Bucket>;
  /** Second by second, every phase. */
  timeline: Array<{ second: number; phase: string } & Bucket>;
  /** Failures by status or error code. */
  errorKinds: Record<string, number>;
  /**
   * Time after the last phase until `inARow` requests in a row were answered 200 within
   * `latencyMs` (the time of the first of them), in ms; NaN when that did not happen in `maxMs`.
   */
  recoveryMs: number;
  /** RSS before the first phase, highest during the phases, after the recovery, in MB. */
  rss: { beforeMb: number; peakMb: number; afterMb: number };
  /** Connections the generator opened. */
  connectionsOpened: number;
  /**
   * CPU use over the phases, in percent of one CPU: the server's (from /proc) and the
   * generator's own. A generator near 100% could not offer the load it was asked to.
   */
  cpu: { serverPercent: number; generatorPercent: number };
  /**
   * The machine's TCP counters over the phases (Linux; NaN elsewhere): connections dropped
   * because a listen queue was full, and segments retransmitted. Either means that some
   * latencies include TCP's retry timers (1 s, then 3 s, for a dropped SYN).
   */
  tcp: { listenOverflows: number; retransmitted: number };
}

/** CPU time (user + system) of a process so far, in ms, from /proc (NaN where unavailable). */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** The machine's TCP counters (Linux), NaN where unavailable. */
function tcpCounters(): { listenOverflows: number; retransmitted: number } {
  const field = (file: string, prefix: string, name: string) => {
    try {
      const [names, values] = readFileSync(file, 'utf8').split('\n').filter((line) => line.startsWith(prefix)).map((line) => line.split(' '));
      return Number(values[names.indexOf(name)]);
    } catch {
      return NaN;
    }
  };
  return { listenOverflows: field('/proc/net/netstat', 'TcpExt:', 'ListenOverflows'), retransmitted: field('/proc/net/snmp', 'Tcp:', 'RetransSegs') };
}

/** Resident set size of a process in MB (Linux), NaN where unavailable. */
function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const headerEnd = Buffer.from('\r\n\r\n');

/** The `refresh_token` of a token response, found without parsing the whole JSON (it is a plain string). */
function refreshTokenOf(body: string): string {
  const at = body.indexOf('"refresh_token":"');
  if (at === -1) return (JSON.parse(body) as { refresh_token: string }).refresh_token;
  const start = at + '"refresh_token":"'.length;
  return body.slice(start, body.indexOf('"', start));
}

/** An answer: its status, its body and its `Retry-After` in seconds, if any. */
interface Answer {
  status: number;
  body: string;
  retryAfter?: number;
}

/** One keep-alive connection, one request at a time (Content-Length answers only, as the server sends). */
class Connection {
  readonly socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: ((answer: Answer | Error) => void) | undefined;
  closed = false;

  readonly connected: Promise<void>;

  constructor(url: URL) {
    this.socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    this.connected = new Promise((resolve) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('close', () => resolve());
    });
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    const drop = (error: Error) => {
      this.closed = true;
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.(error);
    };
    this.socket.on('error', drop);
    this.socket.on('close', () => drop(Object.assign(new Error('socket closed'), { code: 'ECLOSED' })));
  }

  send(request: string, done: (answer: Answer | Error) => void): void {
    this.#pending = done;
    this.socket.write(request);
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const end = this.#buffer.indexOf(headerEnd);
    if (end === -1) return;
    const head = this.#buffer.toString('latin1', 0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.#buffer.length < end + 4 + length) return;
    const body = this.#buffer.toString('utf8', end + 4, end + 4 + length);
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    const pending = this.#pending;
    this.#pending = undefined;
    const retryAfter = /\r\nretry-after: *(\d+)/i.exec(head)?.[1];
    pending?.({ status: Number(head.slice(9, 12)), body, retryAfter: retryAfter === undefined ? undefined : Number(retryAfter) });
    if (/\r\nconnection: *close/i.test(head)) this.socket.destroy();
  }
}

/** A second of the run as it fills up: answers count in the second their request was due in. */
interface OpenBucket {
  second: number;
  phase: string;
  offered: number;
  sent: number;
  ok: number;
  shed: number;
  errors: number;
  latencies: number[];
  rssMb: number;
}

async function run(config: OpenLoopConfig): Promise<OpenLoopResult> {
  const url = new URL(config.url);
  const head = `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: ${config.authorization}\r\ncontent-type: application/x-www-form-urlencoded\r\n`;
  const requestFor = (token: string) => {
    const body = 'grant_type=refresh_token&refresh_token=' + encodeURIComponent(token);
    return `${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };
  const freeChains = [...config.chains];
  const idle: Connection[] = [];
  let connectionsOpened = 0;
  let open = 0;
  const errorKinds: Record<string, number> = {};
  const buckets: OpenBucket[] = [];
  const bucket = (phase: string): OpenBucket => {
    const b = { second: buckets.length, phase, offered: 0, sent: 0, ok: 0, shed: 0, errors: 0, latencies: [], rssMb: NaN };
    buckets.push(b);
    return b;
  };
  const rss = { beforeMb: rssMb(config.pid), peakMb: 0, afterMb: NaN };

  const connection = (): Connection | undefined => {
    while (idle.length > 0) {
      const c = idle.pop()!;
      if (!c.closed) return c;
      open--;
    }
    if (open >= config.maxConnections) return undefined;
    open++;
    connectionsOpened++;
    return new Connection(url);
  };

  /** Sends one refresh due at `dueAt`, counted in `b`; false when no chain or connection was free. */
  const send = (dueAt: number, b: OpenBucket, onAnswer?: (status: number, latency: number) => void): boolean => {
    const token = freeChains.pop();
    if (token === undefined) return false;
    const c = connection();
    if (!c) {
      freeChains.push(token);
      return false;
    }
    b.sent++;
    c.send(requestFor(token), (answer) => {
      if (!c.closed) idle.push(c);
      else open--;
      const latency = performance.now() - dueAt;
      if (answer instanceof Error) {
        const kind = (answer as { code?: string }).code ?? answer.message.slice(0, 40);
        errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
        b.errors++;
        freeChains.push(token);
        return onAnswer?.(0, latency);
      }
      if (answer.status === 200) {
        b.ok++;
        b.latencies.push(latency);
        freeChains.push(refreshTokenOf(answer.body));
      } else if (answer.status === 503) {
        b.shed++;
        if (config.honourRetryAfter && answer.retryAfter) setTimeout(() => freeChains.push(token), answer.retryAfter * 1000);
        else freeChains.push(token);
      } else {
        const kind = `${answer.status} ${(JSON.parse(answer.body) as { error?: string }).error ?? ''}`;
        errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
        b.errors++;
        // A refused token ends its chain; anything else is retried with the same token.
        if (!kind.includes('invalid_grant')) freeChains.push(token);
      }
      onAnswer?.(answer.status, latency);
    });
    return true;
  };

  // Opened 128 at a time: the listen backlog is not meant for thousands of SYNs at once.
  for (let left = Math.min(config.prewarm ?? 512, config.maxConnections); left > 0; left -= 128) {
    const batch = Array.from({ length: Math.min(128, left) }, () => new Connection(url));
    await Promise.all(batch.map((c) => c.connected));
    for (const c of batch) if (!c.closed) idle.push(c);
    open += batch.filter((c) => !c.closed).length;
    connectionsOpened += batch.length;
  }
  const cpuStart = { server: processCpuMs(config.pid), self: process.cpuUsage(), at: performance.now() };
  const tcpStart = tcpCounters();
  const sampleRss = (b: OpenBucket) => {
    b.rssMb = rssMb(config.pid);
    if (Number.isFinite(b.rssMb)) rss.peakMb = Math.max(rss.peakMb, b.rssMb);
  };
  for (const phase of config.phases) {
    const start = performance.now();
    const seconds: OpenBucket[] = [];
    let due = 0;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const elapsed = Math.min(performance.now() - start, phase.durationMs);
        // Every request due by now is sent now: the schedule never waits for answers.
        const target = Math.floor((elapsed * phase.rate) / 1000);
        for (; due < target; due++) {
          const dueAt = start + (due * 1000) / phase.rate;
          const second = Math.floor((dueAt - start) / 1000);
          if (!seconds[second]) {
            if (second > 0 && seconds[second - 1]) sampleRss(seconds[second - 1]);
            seconds[second] = bucket(phase.name);
          }
          seconds[second].offered++;
          send(dueAt, seconds[second]);
        }
        if (elapsed >= phase.durationMs) {
          clearInterval(tick);
          if (seconds.length > 0) sampleRss(seconds[seconds.length - 1]);
          resolve();
        }
      }, 1);
    });
  }

  const wallMs = performance.now() - cpuStart.at;
  const tcpEnd = tcpCounters();
  const tcp = { listenOverflows: tcpEnd.listenOverflows - tcpStart.listenOverflows, retransmitted: tcpEnd.retransmitted - tcpStart.retransmitted };
  const self = process.cpuUsage(cpuStart.self);
  const cpu = {
    serverPercent: (100 * (processCpuMs(config.pid) - cpuStart.server)) / wallMs,
    generatorPercent: (100 * (self.user + self.system)) / 1000 / wallMs,
  };

  // Recovery: the load stopped; one request at a time until answers come back promptly.
  let recoveryMs = NaN;
  if (config.recovery) {
    const { maxMs, latencyMs, inARow } = config.recovery;
    const stoppedAt = performance.now();
    const probes = bucket('recovery');
    let streak = 0;
    let streakStart = 0;
    while (performance.now() - stoppedAt < maxMs) {
      const sentAt = performance.now();
      const answer = await new Promise<{ status: number; latency: number } | undefined>((resolve) => {
        if (!send(sentAt, probes, (status, latency) => resolve({ status, latency }))) resolve(undefined);
      });
      if (!answer) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      if (answer.status === 200 && answer.latency <= latencyMs) {
        if (streak === 0) streakStart = sentAt;
        if (++streak >= inARow) {
          recoveryMs = streakStart - stoppedAt;
          break;
        }
      } else streak = 0;
    }
    probes.rssMb = rssMb(config.pid);
  }
  rss.afterMb = rssMb(config.pid);

  const summary = (bs: OpenBucket[]): Bucket => {
    const lat = bs.flatMap((b) => b.latencies);
    const sum = (key: 'offered' | 'sent' | 'ok' | 'shed' | 'errors') => bs.reduce((n, b) => n + b[key], 0);
    return {
      offered: sum('offered'),
      sent: sum('sent'),
      ok: sum('ok'),
      shed: sum('shed'),
      errors: sum('errors'),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      rssMb: Math.max(...bs.map((b) => b.rssMb).filter(Number.isFinite)),
    };
  };
  const phases = config.phases.map((phase) => ({ ...phase, ...summary(buckets.filter((b) => b.phase === phase.name)) }));
  const timeline = buckets.filter((b) => b.phase !== 'recovery').map((b) => ({ second: b.second, phase: b.phase, ...summary([b]) }));
  for (const c of idle) c.socket.destroy();
  return { phases, timeline, errorKinds, recoveryMs, rss, connectionsOpened, cpu, tcp };
}

if (import.meta.main) {
  const config = JSON.parse(readFileSync(process.argv[2], 'utf8')) as OpenLoopConfig;
  const result = await run(config);
  process.stdout.write(JSON.stringify(result) + '\n');
  // Connections still waiting for answers are not waited for.
  process.exit(0);
}
