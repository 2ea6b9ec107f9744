/**
 * deploy/grafana/msa-dashboard.json queries only metrics msa exposes: every PromQL expression of
 * its panels and variables parses with Prometheus's grammar, and every metric it selects is a
 * series of the registry the service builds (process metrics, the pipeline's, the service's),
 * started in-process. `up` is Prometheus's own series about each scrape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMetricsRegistry } from '../../src/metrics/registry.js';
import { registerPipelineMetrics } from '../../src/pipeline/metrics.js';
import { registerServiceMetrics } from '../../src/pipeline/service.js';
import { createAlertEvaluator } from '../../src/scores/alerts.js';
import { DEFAULTS } from '../../src/config/config.js';
import type { ScoreServerStats } from '../../src/outputs/ws/server.js';
import { exposedSeriesNames, parsePromql } from '../fixtures/promql.js';

const DASHBOARD = join(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'msa-dashboard.json');
/** Series Prometheus makes itself for every target. */
const PROMETHEUS_OWN = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

interface Target {
  expr?: string;
}
interface Panel {
  title: string;
  type: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: string | { query: string } }> };
}

async function registrySeries(): Promise<Set<string>> {
  const registry = createMetricsRegistry();
  registerPipelineMetrics(registry, () => null);
  const noClients = {
    clients: 0,
    authenticatedClients: 0,
    subscriptions: 0,
    messagesSent: 0,
    bytesSent: 0,
    slowClientCloses: 0,
    authFailures: 0,
    rejectedServerFull: 0,
  };
  const alerts = createAlertEvaluator(DEFAULTS.alerts);
  registerServiceMetrics(registry, {
    model: { version: 'test', provider: 'cpu' },
    websocket: () => noClients as ScoreServerStats,
    alerts: () => alerts.stats(),
  });
  const families = await registry.getMetricsAsJSON();
  return exposedSeriesNames(families.map((f) => ({ name: f.name, type: String(f.type) })));
}

/** Every query of the dashboard: panel targets (rows nest panels) and query variables. */
function queries(d: Dashboard): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const [i, t] of (p.targets ?? []).entries()) if (t.expr) out.push({ where: `panel "${p.title}" target ${i}`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    // label_values(metric, label): the metric is a selector too.
    const m = /^label_values\((.+),\s*\w+\)$/.exec(q.trim());
    out.push({ where: `variable ${v.name}`, expr: m ? m[1]! : q });
  }
  return out;
}

test('every metric the Grafana dashboard queries is exposed by the registry', async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const exposed = await registrySeries();
  assert.ok(exposed.has('msa_scores_total') && exposed.has('msa_window_close_to_score_seconds_bucket'), 'the registry has the pipeline metrics');
  const all = queries(dashboard);
  assert.ok(all.length >= 16, `the dashboard has its queries (found ${all.length})`);
  const problems: string[] = [];
  const used = new Set<string>();
  for (const { where, expr } of all) {
    const parsed = parsePromql(expr);
    problems.push(...parsed.problems.map((p) => `${where}: ${p}`));
    for (const name of parsed.metrics) {
      used.add(name);
      if (!exposed.has(name) && !PROMETHEUS_OWN.has(name)) problems.push(`${where}: metric ${name} is not exposed by msa (${expr})`);
    }
  }
  assert.deepEqual(problems, []);
  // The panels the operators asked for (issue 13): each is there.
  for (const name of [
    'msa_scores_total',
    'msa_window_close_to_score_seconds_bucket',
    'msa_model_batch_seconds_bucket',
    'msa_kafka_consumer_lag',
    'msa_dead_letters_total',
    'msa_sessions_open',
    'msa_ws_clients',
    'up',
  ]) {
    assert.ok(used.has(name), `the dashboard shows ${name}`);
  }
});

test('the PromQL check itself: an unknown metric, a syntax error and a nameless selector are found', () => {
  assert.deepEqual(parsePromql('sum(rate(msa_scores_total{job=~"$job"}[$__rate_interval])) / up').metrics, ['msa_scores_total', 'up']);
  assert.deepEqual(parsePromql('histogram_quantile(0.9, sum by (le) (rate(a_bucket[5m])))').metrics, ['a_bucket']);
  assert.equal(parsePromql('sum(rate(msa_scores_total[5m])').problems.length > 0, true);
  assert.match(parsePromql('{__name__="msa_scores_total"}').problems[0] ?? '', /without a metric name/);
});
