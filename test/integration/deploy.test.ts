/**
 * deploy/ checked with the real tools (scripts/ensure-deploy-tools.mjs installs them once into
 * ~/.cache/msa/tools; offline after that): hadolint on the Dockerfile, the compose file against
 * the compose-spec schema (check-jsonschema), promtool on both Prometheus configs and on every
 * PromQL query (dashboard and the HPA's prometheus-adapter rule), kustomize build of the
 * Kubernetes base and GPU overlay, then kubeconform -strict against the Kubernetes 1.37 schemas.
 * Beside them, what the tools cannot know: the config file is one msa accepts, the env vars set
 * are ones msa reads, the image's healthcheck answers to /healthz, the files the Dockerfile
 * copies are in the build context. Each checker is also shown a broken file and must refuse it.
 * Images are not built here (no registry for base images).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/config.js';
import { dashboardQueries, parsePromql, withGrafanaVariables, type Dashboard } from '../fixtures/promql.js';
import { registrySeries } from '../fixtures/metricsRegistry.js';

const root = join(import.meta.dirname, '..', '..');
const deploy = join(root, 'deploy');
const read = (...p: string[]) => readFileSync(join(deploy, ...p), 'utf8');

interface Tools {
  kubeconform: string;
  kustomize: string;
  promtool: string;
  hadolint: string;
  checkJsonschema: string;
  kubernetesVersion: string;
  schemaLocation: string;
}

let tools: Tools;
let tmp: string;

before(() => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-deploy-tools.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(r.status, 0, `scripts/ensure-deploy-tools.mjs failed:\n${r.stderr}`);
  tools = JSON.parse(r.stdout) as Tools;
  tmp = mkdtempSync(join(tmpdir(), 'msa-deploy-'));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Runs a tool; its output (stdout and stderr) and exit code. */
function tool(cmd: string, args: string[], input?: string): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, cwd: root });
  assert.ok(!r.error, `cannot run ${cmd}: ${r.error?.message}`);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function ok(cmd: string, args: string[], input?: string): string {
  const r = tool(cmd, args, input);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed:\n${r.out}`);
  return r.out;
}

const kubeconform = (file: string) =>
  tool(tools.kubeconform, ['-strict', '-summary', '-kubernetes-version', tools.kubernetesVersion, '-schema-location', tools.schemaLocation, file]);

function kustomize(dir: string): string {
  const file = join(tmp, `${dir.replaceAll('/', '-')}.yaml`);
  writeFileSync(file, ok(tools.kustomize, ['build', join(deploy, 'k8s', dir)]));
  return file;
}

describe('Dockerfile', () => {
  const dockerfile = join(deploy, 'docker', 'Dockerfile');

  it('passes hadolint (any finding down to info fails; deploy/docker/hadolint.yaml)', () => {
    ok(tools.hadolint, ['--config', join(deploy, 'docker', 'hadolint.yaml'), dockerfile]);
    const bad = join(tmp, 'Dockerfile.bad');
    writeFileSync(bad, 'FROM node:latest\nRUN apt-get install ffmpeg\nCMD node bin/msa.js run\n');
    const r = tool(tools.hadolint, ['--config', join(deploy, 'docker', 'hadolint.yaml'), bad]);
    assert.notEqual(r.code, 0, 'hadolint refuses a bad Dockerfile');
    assert.match(r.out, /DL3007/);
  });

  it('runtime stages run as a non-root user with a HEALTHCHECK on /healthz; the files copied are in the build context', () => {
    const text = readFileSync(dockerfile, 'utf8');
    const stages = text.split(/^FROM /m).slice(1);
    for (const target of ['runtime', 'runtime-gpu']) {
      const stage = stages.find((s) => new RegExp(`^\\S+ AS ${target}\\b`).test(s));
      assert.ok(stage, `stage ${target}`);
      const user = /^USER (\S+)/m.exec(stage)?.[1];
      assert.ok(user && !/^(root|0)(:|$)/.test(user), `${target} runs as a non-root user (got ${user})`);
      assert.match(stage, /^HEALTHCHECK .*healthcheck\.mjs/m);
      assert.match(stage, /^COPY --from=app \/app\/ \.\/$/m, `${target} carries the files of the app stage`);
    }
    const app = stages.find((s) => /^scratch AS app\b/.test(s)) ?? '';
    for (const path of ['dist/', 'bin/', 'models/', 'schemas/', 'dashboard/', 'deploy/docker/healthcheck.mjs']) {
      assert.match(app, new RegExp(`^COPY .*\\b${path.replace(/[./]/g, '\\$&')}`, 'm'), `the app stage copies ${path}`);
    }
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.replace(/^\*\*\//, ''));
    const sources = [...text.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
    assert.ok(sources.length >= 8, `COPY lines found (${sources.length})`);
    for (const src of sources) {
      const path = src.replace(/\/$/, '');
      assert.ok(existsSync(join(root, path)), `COPY ${src}: not in the repository`);
      assert.ok(!ignored.some((i) => path === i || path.startsWith(`${i}/`)), `COPY ${src}: excluded by .dockerignore`);
    }
  });

  it("the image's healthcheck exits 0 on /healthz 200 and 1 on 503 or no answer", async () => {
    let status = 200;
    const server: Server = createServer((req, res) => {
      res.writeHead(req.url === '/healthz' ? status : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: status === 200 ? 'ok' : 'degraded' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const check = (p: number) =>
      new Promise<number>((resolve) => {
        const child = spawn(process.execPath, [join(deploy, 'docker', 'healthcheck.mjs')], {
          env: { ...process.env, MSA_WS_PORT: String(p) },
          stdio: 'ignore',
        });
        child.on('exit', (code) => resolve(code ?? -1));
      });
    try {
      assert.equal(await check(port), 0);
      status = 503;
      assert.equal(await check(port), 1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    assert.equal(await check(port), 1, 'nothing listening');
  });
});

describe('compose', () => {
  it('deploy/compose.yaml is valid against the compose-spec schema, and a typo is refused', () => {
    ok(tools.checkJsonschema, ['--builtin-schema', 'vendor.compose-spec', join(deploy, 'compose.yaml')]);
    const bad = join(tmp, 'compose.bad.yaml');
    writeFileSync(bad, read('compose.yaml').replace('    restart: unless-stopped', '    restrat: unless-stopped'));
    const r = tool(tools.checkJsonschema, ['--builtin-schema', 'vendor.compose-spec', bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /restrat/);
  });

  it('its bind mounts exist, msa gets Kafka (KRaft) and a token, Prometheus scrapes msa', () => {
    const compose = parseYaml(read('compose.yaml')) as {
      services: Record<string, { image?: string; environment?: Record<string, string>; volumes?: string[]; build?: { dockerfile: string } }>;
    };
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const v of svc.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (src.startsWith('.')) assert.ok(existsSync(join(deploy, src)), `${name}: mount source ${src} exists`);
      }
    }
    assert.match(compose.services.kafka!.image!, /^apache\/kafka:/);
    assert.equal(compose.services.kafka!.environment!.KAFKA_PROCESS_ROLES, 'broker,controller');
    assert.equal(compose.services.msa!.build!.dockerfile, 'deploy/docker/Dockerfile');
    assert.equal(compose.services.msa!.environment!.KAFKA_BROKERS, 'kafka:9092');
    assert.match(compose.services.msa!.environment!.MSA_WS_TOKENS!, /MSA_TOKEN/);
    const prom = parseYaml(read('prometheus', 'prometheus.yml')) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    assert.deepEqual(prom.scrape_configs.find((j) => j.job_name === 'msa')?.static_configs[0]?.targets, ['msa:8080']);
  });
});

describe('Prometheus', () => {
  it('promtool accepts the compose and the Kubernetes scrape configs', () => {
    // credentials_file is read at scrape time, so the secrets need not exist here.
    ok(tools.promtool, ['check', 'config', '--syntax-only', join(deploy, 'prometheus', 'prometheus.yml')]);
    ok(tools.promtool, ['check', 'config', '--syntax-only', join(deploy, 'k8s', 'prometheus', 'scrape.yaml')]);
    const bad = join(tmp, 'prometheus.bad.yml');
    writeFileSync(bad, read('prometheus', 'prometheus.yml').replace('scrape_interval: 15s', 'scrape_interval: 15 seconds'));
    assert.notEqual(tool(tools.promtool, ['check', 'config', '--syntax-only', bad]).code, 0, 'promtool refuses a bad config');
  });

  it("promtool parses every dashboard query and the adapter's rule; the rule's metric is exposed", async () => {
    const dashboard = JSON.parse(read('grafana', 'msa-dashboard.json')) as Dashboard;
    const exprs = dashboardQueries(dashboard).map((q) => withGrafanaVariables(q.expr));
    const values = parseYaml(read('k8s', 'prometheus', 'values.yaml')) as {
      rules: { external: Array<{ seriesQuery: string; metricsQuery: string; name: { as: string } }> };
    };
    const rule = values.rules.external[0]!;
    // The query prometheus-adapter sends for the HPA's metric (base/hpa.yaml: selector service=msa).
    const rendered = rule.metricsQuery
      .replaceAll('<<.Series>>', parsePromql(rule.seriesQuery).metrics[0]!)
      .replaceAll('<<.LabelMatchers>>', 'namespace="msa",service="msa"')
      .replaceAll('<<.GroupBy>>', 'namespace');
    exprs.push(rendered);
    const rules = { groups: [{ name: 'msa-queries', rules: exprs.map((expr, i) => ({ record: `msa:query_${i}`, expr })) }] };
    const file = join(tmp, 'queries.rules.json');
    writeFileSync(file, JSON.stringify(rules));
    ok(tools.promtool, ['check', 'rules', file]);
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'bad', rules: [{ record: 'msa:bad', expr: 'sum(rate(msa_scores_total[5m])' }] }] }));
    assert.notEqual(tool(tools.promtool, ['check', 'rules', file]).code, 0, 'promtool refuses a bad query');

    const exposed = await registrySeries();
    assert.deepEqual(parsePromql(rendered).metrics, ['msa_kafka_consumer_lag']);
    assert.ok(exposed.has('msa_kafka_consumer_lag'), 'msa exposes the lag the HPA scales on');
    const hpa = parseYaml(read('k8s', 'base', 'hpa.yaml')) as { spec: { metrics: Array<{ external: { metric: { name: string } } }> } };
    assert.equal(hpa.spec.metrics[0]!.external.metric.name, rule.name.as, 'the HPA asks for the metric the adapter serves');
  });
});

describe('Kubernetes', () => {
  it('kustomize builds the base and the GPU overlay, and kubeconform -strict finds every resource valid', () => {
    const base = kustomize('base');
    const gpu = kustomize('gpu');
    for (const file of [base, gpu]) {
      const r = kubeconform(file);
      assert.equal(r.code, 0, `kubeconform ${file}:\n${r.out}`);
      assert.match(r.out, /Valid: 6, Invalid: 0, Errors: 0, Skipped: 0/);
    }
    const docs = parseAllDocuments(readFileSync(base, 'utf8')).map((d) => d.toJS() as { kind: string });
    assert.deepEqual(docs.map((d) => d.kind).sort(), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Secret', 'Service']);
    // An unknown field, a wrong type: refused (so the schemas are really read, not skipped).
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, readFileSync(base, 'utf8').replace('periodSeconds: 20', 'periodSecond: 20').replace('replicas: 2', 'replicas: two'));
    const r = kubeconform(bad);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /periodSecond/);
    assert.match(r.out, /Invalid: 1/);
  });

  it('the GPU overlay asks for a GPU on GPU nodes with the CUDA provider', () => {
    const deployment = parseAllDocuments(readFileSync(kustomize('gpu'), 'utf8'))
      .map((d) => d.toJS() as { kind: string; spec: { template: { spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> } } } })
      .find((d) => d.kind === 'Deployment')!;
    const pod = deployment.spec.template.spec;
    const c = pod.containers[0] as { env: Array<{ name: string; value?: string }>; resources: { limits: Record<string, string> }; image: string };
    assert.equal(c.resources.limits['nvidia.com/gpu'], '1');
    assert.ok(c.env.some((e) => e.name === 'MSA_EXECUTION_PROVIDER' && e.value === 'cuda'));
    assert.ok(pod.nodeSelector && pod.tolerations, 'nodeSelector and tolerations');
    assert.match(c.image, /gpu/);
  });

  it("the ConfigMap's msa.json is a config msa accepts; every env var the Deployment sets is one msa reads; probes are on /healthz", () => {
    const config = loadConfig({ file: join(deploy, 'k8s', 'base', 'msa.json') });
    assert.equal(config.ws.host, '0.0.0.0');
    const deployment = parseYaml(read('k8s', 'base', 'deployment.yaml')) as {
      spec: { template: { spec: { containers: Array<Record<string, { path?: string; httpGet?: { path: string } } | unknown>> } } };
    };
    const c = deployment.spec.template.spec.containers[0] as {
      env: Array<{ name: string }>;
      readinessProbe: { httpGet: { path: string } };
      livenessProbe: { httpGet: { path: string } };
      startupProbe: { httpGet: { path: string } };
    };
    const configSource = readFileSync(join(root, 'src', 'config', 'env.ts'), 'utf8'); // where msa reads its environment
    for (const { name } of c.env) assert.match(configSource, new RegExp(`'${name}'|env\\.${name}\\b`), `msa reads ${name}`);
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) assert.equal(probe.httpGet.path, '/healthz');
    const secret = parseYaml(read('k8s', 'base', 'secret.yaml')) as { stringData: Record<string, string> };
    // The Secret's empty placeholders are a config msa accepts (and on 0.0.0.0 it then refuses to start without tokens).
    assert.doesNotThrow(() => loadConfig({ file: join(deploy, 'k8s', 'base', 'msa.json'), env: secret.stringData }));
  });
});
