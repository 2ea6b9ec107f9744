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
import { dashboardQueries, parsePromql, type Dashboard } from '../fixtures/promql.js';
import { PROMETHEUS_OWN, registrySeries } from '../fixtures/metricsRegistry.js';

const DASHBOARD = join(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'msa-dashboard.json');

test('every metric the Grafana dashboard queries is exposed by the registry', async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const exposed = await registrySeries();
  assert.ok(exposed.has('msa_scores_total') && exposed.has('msa_window_close_to_score_seconds_bucket'), 'the registry has the pipeline metrics');
  const all = dashboardQueries(dashboard);
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
