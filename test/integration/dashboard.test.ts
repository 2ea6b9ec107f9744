// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * The dashboard in a real browser (Debian Chromium through playwright-core) against the real
 * service: the test ONNX graph, the broker, a generated session. The page must list the
 * session, chart its scores, flag the model as not a sentiment model, show an alert for a
 * negative stretch (resolved when the session ends), and, with tokens configured, ask for a token and work once it is given.
 * Selection (the newest, a click, the URL), the time axis and the modality facts are driven with
 * scores published straight to the score server (no Kafka round trip needed for what the page does with a score).
 * Screenshots go to test-results/ (git-ignored).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { generateSession } from '../../src/ingest/sampleSession.js';
import type { Score } from '../../src/schemas/records.js';
import { startHarness, type Harness } from '../fixtures/pipelineHarness.js';
import { REPO_ROOT } from '../fixtures/servedModel.js';

const CHROMIUM = '/usr/bin/chromium';
const RESULTS = join(REPO_ROOT, 'test-results');
const TOKEN = 'dashboard-test-token';
// The test graph's rolling scores for the generated session hover around -1.0 (-0.95 .. -1.05),
// so a rule at -0.9 for 5 s fires early in the session and stays firing.
const ALERT_RULE = { name: 'test-negative', when: 'below', threshold: -0.9, forMs: 5000 };

let browser: Browser;
const harnesses: Harness[] = [];

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the dashboard test needs Chromium at ${CHROMIUM}: apt-get install chromium (CI installs it)`);
  }
  await mkdir(RESULTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  for (const h of harnesses) await h.close();
});

async function service(overrides: Record<string, unknown> = {}): Promise<{ h: Harness; url: string }> {
  const h = await startHarness({ alerts: { rules: [ALERT_RULE] }, ...overrides });
  harnesses.push(h);
  return { h, url: `http://127.0.0.1:${h.service.http.port}/` };
}

/** A page that fails the test on script errors and CSP violations, and records every request's host. */
async function openPage(url: string): Promise<{ page: Page; problems: string[]; hosts: Set<string> }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  const hosts = new Set<string>();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('request', (r) => hosts.add(new URL(r.url()).host));
  await page.goto(url);
  return { page, problems, hosts };
}

async function produceSession(h: Harness, sessionId: string): Promise<void> {
  await h.produce(generateSession({ sessionId, startTime: Date.now() - 60_000, endOfStream: true, seed: 1 }));
}

const T0 = 1_760_000_000_000;
/** A score as the pipeline would publish it: window i of the session (1 s hops), emitted now. */
function score(sessionId: string, i: number, overrides: Partial<Score> = {}): Score {
  return {
    sessionId,
    windowStart: T0 + i * 1000 - 6000,
    windowEnd: T0 + i * 1000,
    score: -0.4,
    windowScore: -0.5,
    polarity: 'NEUTRAL',
    confidence: 0.6,
    contributions: { text: -0.5, audio: 0, video: 0 },
    modalities: { text: true, audio: false, video: false },
    modalitiesUsed: { text: true, audio: false, video: false },
    modelVersion: 'msa-test-graph@0 (NOT a sentiment model: test)',
    records: 3,
    latencyMs: 5,
    emittedAt: Date.now(),
    ...overrides,
  };
}

const title = (page: Page) => page.locator('#detail-title').innerText();
async function waitTitle(page: Page, expected: string): Promise<void> {
  await page.locator('#detail-title', { hasText: new RegExp(`^${expected}$`) }).waitFor({ timeout: 15_000 });
}

/** The time labels the chart drew (the page puts them on #chart: the canvas has no text). */
async function timeLabels(page: Page, points: number): Promise<string[]> {
  await page.locator(`#chart[data-points="${points}"][data-x-labels]:not([data-x-labels=""])`).waitFor({ timeout: 15_000 });
  return ((await page.locator('#chart').getAttribute('data-x-labels')) ?? '').split(' ');
}

test('the page lists the session, charts its scores, flags the test model and shows the alert', async () => {
  const { h, url } = await service();
  const { page, problems, hosts } = await openPage(url);
  await page.locator('#connection[data-state="open"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('#auth').isVisible(), false, 'no token needed without ws.authTokens');

  await produceSession(h, 'dash-call-1');
  const item = page.locator('#session-list button[data-session-id="dash-call-1"]');
  await item.waitFor({ timeout: 60_000 });
  await page.waitForFunction("Number(document.querySelector('#chart')?.dataset.points ?? 0) >= 20", null, { timeout: 60_000 });
  assert.equal(await page.locator('#chart canvas').count(), 1, 'uPlot drew a canvas');
  assert.match(await item.innerText(), /dash-call-1[\s\S]*[−+]\d\.\d\d[\s\S]*\d+ windows/);
  assert.equal(await page.locator('#detail-title').innerText(), 'dash-call-1', 'the only session is selected');

  const warning = page.locator('#model-warning');
  await warning.waitFor({ state: 'visible' });
  assert.match(await warning.innerText(), /NOT a sentiment model/);
  assert.match(await page.locator('#model-version').innerText(), /msa-test-graph@0/);

  const alert = page.locator('#alert-list li[data-session-id="dash-call-1"][data-state="firing"]');
  await alert.waitFor({ timeout: 30_000 });
  assert.match(await alert.innerText(), /FIRING[\s\S]*test-negative[\s\S]*below -0\.90 for 5 s/);
  // The session ends (endOfStream): after its last score, the firing alert resolves as 'expired'.
  const ended = page.locator('#alert-list li[data-session-id="dash-call-1"][data-state="resolved"]');
  await ended.waitFor({ timeout: 30_000 });
  assert.match(await ended.innerText(), /resolved[\s\S]*the session ended or went idle/);
  assert.match(await page.locator('#alerts-firing').innerText(), /0 firing/);
  assert.equal(await page.locator('#contributions .bar-row').count(), 3);
  assert.equal(await page.locator('#modalities .chip').count(), 3);
  assert.ok((await page.locator('#modalities .chip.on').count()) >= 1, 'the transcript at least is present');

  // Let the last scores land, then keep a picture to look at.
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(RESULTS, 'dashboard.png'), fullPage: true });
  assert.deepEqual(problems, []);
  assert.deepEqual([...hosts], [`127.0.0.1:${h.service.http.port}`], 'everything is served locally');
  await page.close();
});

test('the newest session is selected until the user picks one; #session=ID selects it and follows the selection', async () => {
  const { h, url } = await service();
  const publish = (s: Score) => h.service.scoreServer.publish(s);
  const { page, problems } = await openPage(url);
  await page.locator('#connection[data-state="open"]').waitFor({ timeout: 15_000 });

  publish(score('sel-old', 1));
  await waitTitle(page, 'sel-old');
  publish(score('sel-new', 1, { emittedAt: Date.now() + 1 }));
  await waitTitle(page, 'sel-new');
  // The older session scored again (now first in the list): the newest stays selected.
  publish(score('sel-old', 2, { emittedAt: Date.now() + 2 }));
  await page.locator('#session-list li:first-child button[data-session-id="sel-old"]').waitFor({ timeout: 15_000 });
  assert.equal(await title(page), 'sel-new');

  // The user picks one: it stays, whatever starts later, and the URL names it.
  await page.click('#session-list button[data-session-id="sel-old"]');
  await waitTitle(page, 'sel-old');
  assert.equal(new URL(page.url()).hash, '#session=sel-old');
  publish(score('sel-newer', 1, { emittedAt: Date.now() + 3 }));
  await page.locator('#session-list button[data-session-id="sel-newer"]').waitFor({ timeout: 15_000 });
  assert.equal(await title(page), 'sel-old');
  assert.equal(await page.locator('#session-list button.selected').getAttribute('data-session-id'), 'sel-old');

  // Back: no choice in the URL, so the newest again; forward: the choice again.
  await page.goBack();
  await waitTitle(page, 'sel-newer');
  assert.equal(new URL(page.url()).hash, '');
  await page.goForward();
  await waitTitle(page, 'sel-old');

  // A link to one session selects it on load, before and after its scores arrive.
  const linked = await openPage(`${url}#session=${encodeURIComponent('sel-new')}`);
  await linked.page.locator('#session-list button[data-session-id="sel-newer"]').waitFor({ timeout: 15_000 });
  assert.equal(await title(linked.page), 'sel-new');
  assert.equal(await linked.page.locator('#session-list button.selected').getAttribute('data-session-id'), 'sel-new');
  const waiting = await openPage(`${url}#session=sel-later`);
  await waitTitle(waiting.page, 'sel-later');
  await waiting.page.locator('#detail-summary', { hasText: 'No scores for this session yet' }).waitFor({ timeout: 15_000 });
  publish(score('sel-later', 1, { emittedAt: Date.now() + 4 }));
  await waiting.page.locator('#chart[data-points="1"]').waitFor({ timeout: 15_000 });
  assert.equal(await title(waiting.page), 'sel-later');

  assert.deepEqual([...problems, ...linked.problems, ...waiting.problems], []);
  for (const p of [page, linked.page, waiting.page]) await p.close();
});

test('the time axis of a short session is labelled in clock time at whole-second steps', async () => {
  const { h, url } = await service();
  for (let i = 1; i <= 4; i++) h.service.scoreServer.publish(score('axis-1', i));
  const { page, problems } = await openPage(url);
  const labels = await timeLabels(page, 4);
  assert.ok(labels.length >= 2, `labels: ${labels.join(' ')}`);
  for (const label of labels) assert.match(label, /^\d\d:\d\d(:\d\d)?$/, `a clock time, no milliseconds: ${labels.join(' ')}`);
  const seconds = labels.map((l) =>
    l
      .split(':')
      .map(Number)
      .reduce((a, b) => a * 60 + b, 0),
  );
  const steps = seconds.slice(1).map((s, i) => s - seconds[i]!);
  assert.ok(
    steps.every((d) => d >= 1 && d === steps[0]),
    `even whole-second steps: ${labels.join(' ')}`,
  );

  // A session with one score so far (the newest, so selected) is labelled too.
  h.service.scoreServer.publish(score('axis-2', 1, { emittedAt: Date.now() + 1 }));
  await waitTitle(page, 'axis-2');
  const single = await timeLabels(page, 1);
  assert.ok(
    single.every((l) => /^\d\d:\d\d(:\d\d)?$/.test(l)),
    single.join(' '),
  );
  assert.deepEqual(problems, []);
  await page.close();
});

test('contributions only for modalities the model read; present but unread says whether the model reads it (gated) or not', async () => {
  const { h, url } = await service();
  const health = (await (await fetch(`${url}healthz`)).json()) as { reads: unknown };
  assert.deepEqual(health.reads, { text: true, audio: false, video: false }, 'the test model has no codebooks');
  // Audio present but not read, video absent, yet the graph gave both a number.
  h.service.scoreServer.publish(
    score('mod-1', 1, {
      contributions: { text: -1.2, audio: -0.4, video: 0.3 },
      modalities: { text: true, audio: true, video: false },
      modalitiesUsed: { text: true, audio: false, video: false },
    }),
  );
  const facts = async (page: Page, what: '#contributions .bar-row' | '#modalities .chip') =>
    Object.fromEntries(
      await Promise.all(
        ['text', 'audio', 'video'].map(async (m) => {
          const row = page.locator(`${what}[data-modality="${m}"]`);
          const text = what === '#modalities .chip' ? await row.innerText() : await row.locator('.bar-value').innerText();
          return [m, text] as const;
        }),
      ),
    );

  const { page, problems } = await openPage(url);
  await page.locator('#modalities .chip[data-modality="audio"]').waitFor({ timeout: 15_000 });
  assert.deepEqual(await facts(page, '#contributions .bar-row'), { text: '−1.20', audio: '—', video: 'absent' });
  assert.deepEqual(await facts(page, '#modalities .chip'), { text: 'text: present', audio: 'audio: present, not used by this model', video: 'video: absent' });
  await page.screenshot({ path: join(RESULTS, 'dashboard-modalities.png'), fullPage: true });

  // A model that reads voice (a codebook for it) whose gate left this window's audio out: "gated".
  const gated = await browser.newPage();
  await gated.route('**/healthz', async (route) => {
    const response = await route.fetch();
    const json = (await response.json()) as { reads: object };
    await route.fulfill({ response, json: { ...json, reads: { text: true, audio: true, video: true } } });
  });
  await gated.goto(url);
  await gated.locator('#modalities .chip[data-modality="audio"][data-state="gated"]').waitFor({ timeout: 15_000 });
  assert.deepEqual(await facts(gated, '#modalities .chip'), { text: 'text: present', audio: 'audio: present, gated', video: 'video: absent' });
  assert.deepEqual(await facts(gated, '#contributions .bar-row'), { text: '−1.20', audio: '—', video: 'absent' });
  assert.deepEqual(problems, []);
  await page.close();
  await gated.close();
});

test('a session that ended without a score is listed with the reason the service gave', async () => {
  const { h, url } = await service();
  const { page, problems } = await openPage(url);
  assert.ok(await page.locator('#unscored').isHidden(), 'no such session yet: the panel is hidden');
  const why = 'it sent audio but no transcript, and speech recognition is off (asr.mode off); the model reads words only';
  const summary = {
    sessionId: 'quiet-1',
    windows: 3,
    scores: 0,
    unscored: { 'no-usable-input': 3 },
    present: { text: 0, audio: 3, video: 0 },
    machineText: 0,
    last: null,
    why,
  };
  // Once the page is subscribed (its first score arrived), the service says the session ended.
  h.service.scoreServer.publish(score('other-1', 1));
  await waitTitle(page, 'other-1');
  // A scored session's end is not listed; messages arrive in order, so once quiet-1 shows, other-1's end was handled.
  h.service.scoreServer.broadcast({ type: 'ended', summary: { ...summary, sessionId: 'other-1', scores: 1, why: null } }, 'other-1');
  h.service.scoreServer.broadcast({ type: 'ended', summary }, 'quiet-1');
  const item = page.locator('#unscored-list li[data-session-id="quiet-1"]');
  await item.waitFor({ timeout: 15_000 });
  assert.match(await item.innerText(), /NO SCORE[\s\S]*quiet-1[\s\S]*speech recognition is off/);
  assert.equal(await page.locator('#unscored-list li').count(), 1);
  assert.deepEqual(problems, []);
  await page.close();
});

test('with ws.authTokens the page asks for a token, refuses a wrong one, and works with the right one', async () => {
  const { h, url } = await service({ ws: { port: 0, authTokens: [TOKEN] } });
  const { page, problems } = await openPage(url);
  const auth = page.locator('#auth');
  await auth.waitFor({ state: 'visible', timeout: 15_000 });
  assert.match(await page.locator('#auth-message').innerText(), /needs an access token/);
  assert.equal(await page.locator('#connection').getAttribute('data-state'), 'auth');
  assert.equal(page.url(), url, 'no token in the URL');

  await page.fill('#auth-token', 'not-the-token');
  await page.click('#auth-form button[type="submit"]');
  await page.locator('#auth-message', { hasText: 'refused' }).waitFor({ timeout: 15_000 });
  await page.screenshot({ path: join(RESULTS, 'dashboard-auth.png') });

  await page.fill('#auth-token', TOKEN);
  await page.click('#auth-form button[type="submit"]');
  await page.locator('#connection[data-state="open"]').waitFor({ timeout: 15_000 });
  assert.equal(await auth.isVisible(), false);
  // Runs in the page: sessionStorage is the browser's (the test's tsconfig has no DOM types).
  assert.equal(await page.evaluate("sessionStorage.getItem('msa.dashboard.token')"), TOKEN);
  assert.ok(!page.url().includes(TOKEN), 'no token in the URL');

  await produceSession(h, 'dash-auth-1');
  await page.locator('#session-list button[data-session-id="dash-auth-1"]').waitFor({ timeout: 60_000 });
  await page.locator('#alert-list li[data-session-id="dash-auth-1"]').first().waitFor({ timeout: 30_000 });

  // A reload reconnects with the token kept for this tab, without asking again.
  await page.reload();
  await page.locator('#connection[data-state="open"]').waitFor({ timeout: 15_000 });
  assert.equal(await auth.isVisible(), false);
  await page.locator('#session-list button[data-session-id="dash-auth-1"]').waitFor({ timeout: 15_000 });
  // The wrong token's refusal logs a failed WebSocket close in the console; nothing else may.
  assert.deepEqual(
    problems.filter((p) => !/WebSocket/.test(p)),
    [],
  );
  await page.close();
});

test('with a tenant token (sessionPrefixes) the page works and lists only that tenant’s sessions', async () => {
  const tenantToken = 'dashboard-tenant-token';
  const { h, url } = await service({ ws: { port: 0, authTokens: [TOKEN, { name: 'tenant-a', token: tenantToken, sessionPrefixes: ['dash-a-'] }] } });
  const { page, problems } = await openPage(url);
  await page.locator('#auth').waitFor({ state: 'visible', timeout: 15_000 });
  await page.fill('#auth-token', tenantToken);
  await page.click('#auth-form button[type="submit"]');
  await page.locator('#connection[data-state="open"]').waitFor({ timeout: 15_000 });

  await produceSession(h, 'dash-b-1');
  await produceSession(h, 'dash-a-1');
  await page.locator('#session-list button[data-session-id="dash-a-1"]').waitFor({ timeout: 60_000 });
  await page.locator('#alert-list li[data-session-id="dash-a-1"]').first().waitFor({ timeout: 30_000 });
  // The other tenant's session was scored too (the flat token sees it), but never reaches this page.
  const opsSees = async () => {
    const res = await fetch(`http://127.0.0.1:${h.service.http.port}/metrics.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return ((await res.json()) as { websocket: { sessions: number } }).websocket.sessions;
  };
  for (let i = 0; i < 240 && (await opsSees()) < 2; i++) await page.waitForTimeout(250);
  assert.equal(await opsSees(), 2, 'both sessions have scores');
  assert.equal(await page.locator('#session-list button[data-session-id="dash-b-1"]').count(), 0);
  assert.equal(await page.locator('#alert-list li[data-session-id="dash-b-1"]').count(), 0);
  assert.ok(!(await page.content()).includes('dash-b-1'));
  assert.deepEqual(
    problems.filter((p) => !/WebSocket/.test(p)),
    [],
  );
  await page.close();
});
