/**
 * A loopback TCP port for tests that must name a port before something listens on it (an
 * issuer with its port, a workerd config, a redirect URI).
 */
import { createServer } from 'node:net';

/** A loopback port that was free a moment ago (the caller retries on EADDRINUSE where it matters). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
