/**
 * The Prometheus metrics registry (prom-client): one per service, handed to whatever wants to be
 * seen by Prometheus. Code registers its own metrics into it, either instruments it updates as
 * things happen (`new Histogram({ registers: [registry], ... })`) or views of counters it already
 * keeps in a stats object, read when Prometheus scrapes (`statsCounter`, `statsGauge`).
 * Served on `GET /metrics` in the text format (outputs/http/server.ts); the JSON view of the
 * same stats objects stays on `GET /metrics.json`.
 *
 * @example
 * const registry = createMetricsRegistry();
 * statsCounter(registry, { name: 'msa_scores_total', help: 'Scores written', read: () => stats.scores });
 * new Histogram({ name: 'msa_model_batch_seconds', help: '...', registers: [registry] });
 * const text = await registry.metrics();
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export { Histogram, Registry } from 'prom-client';

/** Every metric of msa starts with this. */
export const METRIC_PREFIX = 'msa_';

export interface MetricsRegistryOptions {
  /** The process metrics of prom-client (CPU, memory, event-loop lag, GC), prefixed `msa_`. Default true. */
  processMetrics?: boolean;
}

export function createMetricsRegistry(options: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}

/** Label values of one series, and its value. */
export type Series = [labels: Record<string, string | number>, value: number];

interface StatsMetric {
  name: string;
  help: string;
  labelNames?: readonly string[];
  /** The value now: one number (no labels), or one entry per label set. */
  read: () => number | readonly Series[];
}

function setFrom(metric: Counter | Gauge, read: StatsMetric['read'], set: (labels: Record<string, string | number> | null, value: number) => void) {
  metric.reset(); // series that are gone (a revoked partition) leave with the next scrape
  const value = read();
  if (typeof value === 'number') set(null, value);
  else for (const [labels, v] of value) set(labels, v);
}

/**
 * A counter whose value is a monotonic field of a stats object, read on each scrape.
 * The field must only grow (it is the source of truth; Prometheus sees a reset only when the
 * process restarts).
 */
export function statsCounter(registry: Registry, m: StatsMetric): Counter {
  return new Counter({
    name: m.name,
    help: m.help,
    labelNames: m.labelNames ?? [],
    registers: [registry],
    collect() {
      setFrom(this, m.read, (labels, v) => (labels ? this.inc(labels, Math.max(0, v)) : this.inc(Math.max(0, v))));
    },
  });
}

/** A gauge whose value is read from a stats object on each scrape. */
export function statsGauge(registry: Registry, m: StatsMetric): Gauge {
  return new Gauge({
    name: m.name,
    help: m.help,
    labelNames: m.labelNames ?? [],
    registers: [registry],
    collect() {
      setFrom(this, m.read, (labels, v) => (labels ? this.set(labels, v) : this.set(v)));
    },
  });
}

/** Entries of a `Record<string, number>` as series with one label. */
export const byLabel = (label: string, record: Readonly<Record<string, number | undefined>>): Series[] =>
  Object.entries(record).map(([k, v]) => [{ [label]: k }, v ?? 0]);
