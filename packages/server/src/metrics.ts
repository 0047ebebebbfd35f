/**
 * @refresh-grant/server/metrics: Prometheus metrics with prom-client (an optional peer
 * dependency: install `prom-client` to use this entry). What `refresh-grant serve --metrics`
 * serves at `GET /metrics`.
 *
 * @example
 * ```ts
 * import { createMetrics } from '@refresh-grant/server/metrics'
 * const metrics = createMetrics({ load: () => overload.stats() })
 * ```
 *
 * @packageDocumentation
 * @module @refresh-grant/server/metrics
 */
export { createMetrics, type LoadStats, type Metrics, type MetricsOptions } from './operations/metrics.ts';
